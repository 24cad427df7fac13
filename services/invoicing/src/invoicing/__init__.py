"""Invoicing: turns logged time into correct invoices."""
