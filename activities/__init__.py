"""The tools agents call: the demo shop (``shop``, on SQLite in ``shop_db``) and the monitor's metrics.

Importing ``mandate.activities.shop`` registers the shop's tools in ``mandate.tools.registry``; the
refund agent's module does that, so a worker that serves no shop agent never sees them.
"""
