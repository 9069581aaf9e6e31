"""The client side: data owners and job submitters talking to the three servers."""
