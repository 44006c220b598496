"""The synthetic corpus: its world of merchants and places, and how bank feeds print them."""
