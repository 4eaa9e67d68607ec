"""The tenant portal (/portal/): association boards and company admins run their stations, people and prices; residents
see their own sessions, invoices and bookings. Views parse, check the portal role and call the apps' services and
selectors; templates are in templates/portal/."""
