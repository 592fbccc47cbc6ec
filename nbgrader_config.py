"""nbgrader's configuration for running the course from this repository.

``nbgrader generate_assignment ch01`` (or ``make release``) reads the instructor sources in
``notebooks/`` and writes the student edition to ``release/``; ``nbgrader autograde ch01`` grades
``submitted/<student>/ch01/``. Chapter 1's training check runs for longer than nbgrader's
default 30 s cell timeout, hence the timeout below.
"""

c = get_config()  # noqa: F821 (nbgrader provides get_config)
c.CourseDirectory.source_directory = "notebooks"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
c.ExecutePreprocessor.timeout = 900
