"""`python -m python_workers`: one worker on fds 3 (requests) and 4 (responses)."""

from python_workers.worker import main

main()
