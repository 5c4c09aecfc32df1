"""TEST DOUBLE of ``knime.scripting`` (NOT KNIME): holds the ``io`` double."""
