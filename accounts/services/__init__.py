"""Every write in the accounts domain. Each function is one transaction and leaves an audit row."""
