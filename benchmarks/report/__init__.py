"""The stakeholder report: its headline, sections, figures and the self-contained HTML page."""
