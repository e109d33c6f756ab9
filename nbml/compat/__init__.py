"""Where nbml reaches inside the libraries it builds on: one module per library.

Each module names what it borrows, uses it with a fallback or a clear error when the library
moves it, and is tested (``tests/test_compat.py``) so that a new release that breaks the reach
fails a test instead of a user's run. Nothing else in nbml touches a library's private names.
This layer sits below :mod:`nbml.core` and imports nothing of nbml.
"""
