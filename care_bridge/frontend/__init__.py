"""The front-end contract: everything around the runtime that the CLI, both Fiji paths (hosted and standalone)
and the KNIME nodes share — option parsing, loading, output naming, overwrite rules, output calibration, bundle
description text and error messages. A front end parses what its user typed with :mod:`.options` and then
calls :mod:`.jobs`; it writes no glue of its own, which is what makes the same job give the same answer.
"""

from .calibration import output_meta, spacing_factors
from .describe import describe_bundle_text
from .jobs import FileResult, expand_inputs, input_axes, load_restorer, restore_file, restore_files
from .messages import error_line
from .naming import RESULT_SUFFIX, output_path, result_title, scale_path
from .options import RestoreOptions, parse_bool, parse_engine, parse_memory_budget, parse_n_tiles, \
    restore_options

__all__ = [
    "RESULT_SUFFIX", "FileResult", "RestoreOptions", "describe_bundle_text", "error_line", "expand_inputs",
    "input_axes", "load_restorer", "output_meta", "output_path", "parse_bool", "parse_engine",
    "parse_memory_budget", "parse_n_tiles", "restore_file", "restore_files", "restore_options", "result_title",
    "scale_path", "spacing_factors",
]
