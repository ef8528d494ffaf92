"""Built-in training tasks: every module in this package is imported when a task is looked up, and registers its
tasks with :func:`samfuse.training.register_task` (e.g. ``tasks/sage.py`` registers ``sage``). Add a method's
training by adding a module here; no list to edit."""
