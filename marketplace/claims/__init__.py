"""After-sales claims on order lines: opened by the buyer, answered by the seller, escalated to
administrators; money goes back only through the refund path of payments."""
