package api

// adminEntries declares the admin APIs (topics, configs, cluster, log dirs).
func (a *API) adminEntries() []entry { return nil }
