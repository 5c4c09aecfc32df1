"""TEST DOUBLE of KNIME's ``knime`` Python package (NOT KNIME, never shipped).

Only the parts care_bridge's KNIME nodes use: ``knime.extension`` (pure-Python node API) and
``knime.scripting.io`` (the Python Script node's API). ``tests/knime/conftest.py`` puts the folder holding this
package first on ``sys.path``; the real package comes with KNIME's own Python environment.
"""
