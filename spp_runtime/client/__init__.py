"""The data owner's and analyst's side: preparing uploads (and, later, jobs) for the servers."""
