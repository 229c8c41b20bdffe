"""Data coming in: CSV files and API payloads of customers, invoices and payments read, checked row by row and
written all or nothing; Factur-X / ZUGFeRD and UBL e-invoices (`einvoice`); bank statements read (`statements`),
matched to the open invoices (`matching`) and kept as bank lines, recorded or proposed (`bank_lines`).

Modules, in the order of an import: `reading` (a file: encoding, separator, header, rows of text; `plan_csv`),
`values` (one cell: dates, amounts, codes, addresses), `plan` (the rows checked against the database: errors
naming row and field, what would change; `plan_records`, also the API's way in), `apply` (the bulk write;
amount_paid and statuses); `contacts` and `history` (the customers' contacts, the reminders a previous tool sent:
planned and written by their own module, called by `plan` and `apply`); `staging` (an upload between its check
and its confirmation: checked once, by the worker for a large file, its plan kept and applied unless the rows it
relies on changed).

Imports: models, engine, texts, the top-level services. Never `sending`, `letters`, Flask's request/session, an
area package (relance.imports, relance.api, relance.commands) or relance.tasks: callers pass the data, the date
and the user in."""
