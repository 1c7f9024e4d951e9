"""Checkout, orders per seller, stock reservation and the order lifecycle."""
