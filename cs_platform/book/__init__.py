"""Working the book: bulk actions on the risk list's ticked accounts, account lists, saved views."""
