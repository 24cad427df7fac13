from servicekit.settings import ServiceSettings, service_config


class InvoicingSettings(ServiceSettings):
    model_config = service_config("INVOICING_")

    service_name: str = "invoicing"
    http_port: int = 8002
    # How often the overdue job looks for invoices past due; 0 turns it off.
    overdue_check_interval_s: float = 900.0
    # Clients a billing run drafts at once, and how often unfinished runs are resumed.
    billing_run_concurrency: int = 4
    billing_run_check_interval_s: float = 60.0
    # How often recurring schedules are checked for due periods; 0 turns it off.
    recurring_check_interval_s: float = 300.0
