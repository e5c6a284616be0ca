// Command faketoxiproxy answers the few toxiproxy API calls that sarama's
// functional tests make against an existing environment (TOXIPROXY_ADDR):
// proxy kafkaN "listens" on 127.0.0.1:2909N, where scripts/sarama-functional.sh
// starts samsa node N, and a reset does nothing. It injects no faults: the
// sarama tests that need toxics (latency, cut links) are not run with it.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

func proxy(name string) map[string]any {
	n := strings.TrimPrefix(name, "kafka")
	return map[string]any{"name": name, "listen": "127.0.0.1:2909" + n, "upstream": "127.0.0.1:2909" + n, "enabled": true, "toxics": []any{}}
}

func main() {
	http.HandleFunc("/proxies/", func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/proxies/")
		name = strings.Split(name, "/")[0]
		if strings.Contains(r.URL.Path, "/toxics") {
			json.NewEncoder(w).Encode([]any{})
			return
		}
		json.NewEncoder(w).Encode(proxy(name))
	})
	http.HandleFunc("/proxies", func(w http.ResponseWriter, r *http.Request) {
		m := map[string]any{}
		for i := 1; i <= 5; i++ {
			n := fmt.Sprintf("kafka%d", i)
			m[n] = proxy(n)
		}
		json.NewEncoder(w).Encode(m)
	})
	http.HandleFunc("/reset", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	http.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("2.9.0")) })
	panic(http.ListenAndServe("127.0.0.1:8474", nil))
}
