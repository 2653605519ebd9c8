"""todo.txt import and export: pure functions from text to todo fields and back, no I/O."""

from todostream.todotxt.convert import ImportedTodo, to_imported
from todostream.todotxt.export import ExportableTodo, format_document, format_line
from todostream.todotxt.parse import ParsedDocument, ParsedTask, SkippedLine, parse_document

__all__ = [
    "ExportableTodo",
    "ImportedTodo",
    "ParsedDocument",
    "ParsedTask",
    "SkippedLine",
    "format_document",
    "format_line",
    "parse_document",
    "to_imported",
]
