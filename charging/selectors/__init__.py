"""Reads for the charging pages and the Connect API, always narrowed to what the viewer may see (or, for
``sessions`` and ``reports``, to the organizations the caller passes in): ``station_list`` (the monitoring list
and the dashboard), ``station_page`` (one charge point's page), ``customers`` (the support customer lookup),
``access`` (the mode in force, publication, QR codes and start URLs), ``sessions`` (the filters every session
list and export shares, live energy of running sessions, token match in any uid spelling), ``reports`` (energy
and revenue, utilization and the benefit-tax basis per month, in the station owner's time zone)."""
