"""What the tests build on: the stacks they start, the clients they drive them with, the checks they share."""
