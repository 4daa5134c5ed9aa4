"""A corpus of broken inputs, generated (never committed as data): see :mod:`tests.badinputs.cases`."""
