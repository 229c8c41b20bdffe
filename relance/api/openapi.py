"""The OpenAPI 3.1 document of /api/v1, built from the same schemas the endpoints check requests with."""

from __future__ import annotations

from relance.api import schema as s


def _json(body: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": body}}}


def _error(description: str) -> dict:
    return _json({"$ref": "#/components/schemas/Error"}, description)


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


ERRORS = {
    "400": _error("The body is not JSON, is larger than 1 MB or nests arrays and objects more than 32 levels deep "
                  "(settings RELANCE_API_MAX_BODY_BYTES, RELANCE_API_MAX_JSON_DEPTH)."),
    "401": {**_error("No token, or an unknown or revoked one."),
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}},
    "403": _error("The token's role does not allow writes (viewer)."),
    "404": _error("No such customer or invoice."),
    "422": _error("Invalid request: `error.fields` lists each problem with its path, e.g. `items[0].due_date`."),
}


def _responses(ok: dict, *errors: str) -> dict:
    return {**ok, **{code: ERRORS[code] for code in ("401", *errors)}}


def _query(params: dict) -> list[dict]:
    return [{"name": name, "in": "query", "required": False, "schema": spec} for name, spec in params.items()]


def _path(name: str) -> dict:
    return {"name": name, "in": "path", "required": True, "schema": s.CODE,
            "description": "Percent-encode a / inside the value as %2F."}


def _body(body: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": body}}}


_COUNTS = {"type": "object", "required": ["created", "updated", "unchanged"], "properties": {
    "created": {"type": "integer"}, "updated": {"type": "integer"}, "unchanged": {"type": "integer"}}}


def document(server: str) -> dict:
    customer_path, invoice_path = [_path("code")], [_path("number")]
    _made = {"type": "object", "required": ["reminder", "invoice"],
             "properties": {"reminder": _ref("Reminder"), "invoice": _ref("Invoice")}}
    paths = {
        "/customers": {
            "get": {"operationId": "listCustomers", "summary": "List customers (by code).",
                    "parameters": _query(s.CUSTOMER_QUERY),
                    "responses": _responses({"200": _json(s.page_of(_ref("Customer")), "A page of customers.")},
                                            "422")},
            "post": {"operationId": "upsertCustomers",
                     "summary": "Create or update customers by code: all items or none.",
                     "requestBody": _body(s.batch(_ref("CustomerItem"))),
                     "responses": _responses({"200": _json(s.batch_result(_ref("Customer")), "Saved.")},
                                             "400", "403", "422")},
        },
        "/customers/{code}": {
            "get": {"operationId": "getCustomer", "summary": "One customer.", "parameters": customer_path,
                    "responses": _responses({"200": _json(_ref("Customer"), "The customer.")}, "404")},
            "put": {"operationId": "putCustomer", "summary": "Create or update the customer with this code.",
                    "parameters": customer_path, "requestBody": _body(_ref("CustomerInput")),
                    "responses": _responses({"200": _json(_ref("Customer"), "Updated."),
                                             "201": _json(_ref("Customer"), "Created.")},
                                            "400", "403", "404", "422")},
        },
        "/invoices": {
            "get": {"operationId": "listInvoices", "summary": "List invoices and credit notes (by number).",
                    "parameters": _query(s.INVOICE_QUERY),
                    "responses": _responses({"200": _json(s.page_of(_ref("Invoice")), "A page of invoices.")},
                                            "422")},
            "post": {"operationId": "upsertInvoices",
                     "summary": "Create or update invoices by number: all items or none; or one Factur-X PDF.",
                     "description": "A JSON body (application/json) lists invoices. A Factur-X / ZUGFeRD PDF body "
                                    "(application/pdf, at most RELANCE_INVOICE_PDF_MAX_BYTES, 10 MB by default) "
                                    "is one invoice read from its embedded CII XML: its buyer is found by SIREN, "
                                    "VAT number or code, or created, and the PDF is kept byte for byte as the "
                                    "invoice's file. A PDF without an embedded invoice, or whose invoice lacks "
                                    "a value, is refused (422, `error.fields[0].path` = `body`).",
                     "requestBody": {"required": True, "content": {
                         "application/json": {"schema": s.batch(_ref("InvoiceItem"))},
                         "application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                     "responses": _responses({"200": _json(s.batch_result(_ref("Invoice")), "Saved.")},
                                             "400", "403", "422")},
        },
        "/invoices/{number}": {
            "get": {"operationId": "getInvoice", "summary": "One invoice.", "parameters": invoice_path,
                    "responses": _responses({"200": _json(_ref("Invoice"), "The invoice.")}, "404")},
            "put": {"operationId": "putInvoice", "summary": "Create or update the invoice with this number.",
                    "parameters": invoice_path, "requestBody": _body(_ref("InvoiceInput")),
                    "responses": _responses({"200": _json(_ref("Invoice"), "Updated."),
                                             "201": _json(_ref("Invoice"), "Created.")},
                                            "400", "403", "404", "422")},
        },
        "/invoices/{number}/payments": {
            "get": {"operationId": "listPayments", "summary": "The invoice's payments.", "parameters": invoice_path,
                    "responses": _responses({"200": _json(_items(_ref("Payment")), "The payments.")}, "404")},
            "post": {"operationId": "addPayment",
                     "summary": "Record a payment (partial or full: full marks the invoice paid).",
                     "description": "Refused (422) on a draft, cancelled invoice or credit note, above the "
                                    "remaining due, dated in the future, or when the same payment (date, amount, "
                                    "reference) is already recorded.",
                     "parameters": invoice_path, "requestBody": _body(_ref("PaymentInput")),
                     "responses": _responses({"201": _json({
                         "type": "object", "required": ["payment", "invoice"],
                         "properties": {"payment": _ref("Payment"), "invoice": _ref("Invoice")}}, "Recorded.")},
                         "400", "403", "404", "422")},
        },
        "/invoices/{number}/reminders": {
            "get": {"operationId": "listReminders", "summary": "The reminders made for the invoice.",
                    "parameters": invoice_path,
                    "responses": _responses({"200": _json(_items(_ref("Reminder")), "The reminders.")}, "404")},
            "post": {"operationId": "addReminder",
                     "summary": "Make a reminder by hand if the rules allow it (see eligibility); sent at once.",
                     "description": "Refused (422, one field per reason) when the rules refuse it: a level or "
                                    "channel already sent, too soon after the last reminder, a level skipped, a "
                                    "paused customer... Give `override_reason` to send anyway what may be "
                                    "overridden. An `Idempotency-Key` header (at most 64 characters) sent twice "
                                    "makes one reminder: the second answer (200) is the first reminder.",
                     "parameters": [*invoice_path, {"name": "Idempotency-Key", "in": "header", "required": False,
                                                    "schema": {"type": "string", "maxLength": 64}}],
                     "requestBody": _body(_ref("ReminderInput")),
                     "responses": _responses({
                         "201": _json(_made, "Made (and sent, or queued)."),
                         "200": _json(_made, "Already made with this Idempotency-Key.")}, "400", "403", "404", "422")},
        },
        "/invoices/{number}/eligibility": {
            "get": {"operationId": "getEligibility",
                    "summary": "Whether the rules send a level (default: the next one) today, and why not.",
                    "parameters": [*invoice_path, *_query(s.ELIGIBILITY_QUERY)],
                    "responses": _responses({"200": _json(_ref("Eligibility"), "The verdict.")}, "404", "422")},
        },
        "/payments": {
            "post": {"operationId": "addPayments",
                     "summary": "Record payments on several invoices: all items or none.",
                     "description": "A payment already recorded (same invoice, date, amount and reference) "
                                    "is counted as unchanged, so sending the same list again records nothing.",
                     "requestBody": _body(s.batch(_ref("PaymentItem"))),
                     "responses": _responses({"200": _json(s.batch_result(_ref("Invoice")),
                                                           "Saved; the items are the invoices paid.")},
                                             "400", "403", "422")},
        },
        "/statements": {
            "post": {"operationId": "importStatement",
                     "summary": "Import a bank statement: its credits matched to the open invoices.",
                     "description": "The body is the statement file: ISO 20022 camt.053 / camt.054 XML, OFX or CSV "
                                    "(`format` when the content does not tell). Each credit is kept once (the "
                                    "bank's reference, else a hash of the line): the same file sent again adds "
                                    "nothing. Exact matches are recorded as payments only when the setting says "
                                    "so; the others wait on the bank page. A file that cannot be read is refused "
                                    "whole (422, `error.fields[0].path` = `body`).",
                     "parameters": [
                         {"name": "format", "in": "query", "required": False,
                          "schema": {"type": "string", "enum": ["camt", "ofx", "csv"]}},
                         {"name": "filename", "in": "query", "required": False,
                          "schema": {"type": "string", "maxLength": 255}}],
                     "requestBody": {"required": True, "content": {
                         "application/xml": {"schema": {"type": "string"}},
                         "text/csv": {"schema": {"type": "string"}},
                         "application/x-ofx": {"schema": {"type": "string"}}}},
                     "responses": _responses({"200": _json({
                         "type": "object",
                         "required": ["read", "imported", "already", "skipped", "automatic", "proposed", "left"],
                         "properties": {name: {"type": "integer"} for name in (
                             "read", "imported", "already", "skipped", "automatic", "proposed", "left")}},
                         "Imported.")}, "400", "403", "422")},
        },
        "/contacts": {
            "post": {"operationId": "upsertContacts",
                     "summary": "Create or update customers' contacts (key: customer code + email): all items or "
                                "none.",
                     "description": "Reminder emails go to the invoice's follow-up contact, else its billing "
                                    "contact, else the customer's email; a customer's invoices that name no contact "
                                    "get its first follow-up and billing contacts.",
                     "requestBody": _body(s.batch(_ref("ContactItem"))),
                     "responses": _responses({"200": _json(_COUNTS, "Saved.")}, "400", "403", "422")},
        },
        "/reminder-history": {
            "post": {"operationId": "addReminderHistory",
                     "summary": "Record the reminders a previous tool sent: all items or none.",
                     "description": "Refused (422): an unknown invoice or level rank, a date in the future, a "
                                    "reminder the invoice already has at that level by that channel. The same item "
                                    "sent again is unchanged.",
                     "requestBody": _body(s.batch(_ref("HistoryItem"))),
                     "responses": _responses({"200": _json(_COUNTS, "Saved.")}, "400", "403", "422")},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Relance API", "version": "1.0.0", "description": (
            "Send invoices from your accounting or invoicing software and read their follow-up. Authenticate "
            "with `Authorization: Bearer <token>` (tokens are created by an administrator). A viewer's token "
            "can read; an agent's token can also write. Amounts are decimal strings in responses.")},
        "servers": [{"url": server}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Customer": s.CUSTOMER_OUT, "CustomerInput": s.CUSTOMER_PUT, "CustomerItem": s.CUSTOMER_ITEM,
                "Invoice": s.INVOICE_OUT, "InvoiceInput": s.INVOICE_PUT, "InvoiceItem": s.INVOICE_ITEM,
                "Payment": s.PAYMENT_OUT, "PaymentInput": s.PAYMENT_IN, "PaymentItem": s.PAYMENT_ITEM,
                "Reminder": s.REMINDER_OUT, "ReminderInput": s.REMINDER_IN, "Eligibility": s.ELIGIBILITY_OUT,
                "Error": s.ERROR, "ContactItem": s.CONTACT_ITEM, "HistoryItem": s.HISTORY_ITEM,
            },
        },
    }


def _items(item: dict) -> dict:
    return {"type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": item}}}
