"""A results folder: its files written safely, its row layout, parameter files and manifest."""
