"""Reminder letters: what a letter says (`content`), how it is printed (`printing`: HTML -> A4 PDF with
WeasyPrint, the invoice appended, the merged PDF of a run as a stream) and the invoice PDF (`invoice_pdf`: the
uploaded file, else one generated from the invoice data).

Imports: models, engine, texts, files, settings. Never `sending`, Flask's request/session, an area package or
relance.tasks. The printing code runs in worker processes: it gets strings, never a session."""
