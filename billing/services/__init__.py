"""Billing writes: ``tariffs`` (tariffs, their assignments and the price-increase notice rule) and ``spot_prices``
(storing and fetching day-ahead prices, recording gaps). Keyword-only arguments; people's changes are audited."""
