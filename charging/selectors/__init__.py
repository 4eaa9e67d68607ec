"""Reads for the charging pages, always narrowed to what the viewer may see: ``station_list`` (the monitoring list
and the dashboard), ``station_page`` (one charge point's page), ``customers`` (the support customer lookup),
``access`` (the mode in force, publication, QR codes and start URLs)."""
