"""One panel per step of the workflow; each can be started alone (`python -m ...`)."""
