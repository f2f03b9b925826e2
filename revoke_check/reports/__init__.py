"""Reports for people and CI systems: JUnit, SARIF, graphs."""
