"""Support pages in the admin that are not about one model: the customer lookup for the support phone line."""
