"""Every write in the charging domain, protocol-neutral: the OCPP 1.6 and 2.0.1 handlers both call these."""
