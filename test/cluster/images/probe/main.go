// ktr-probe: the one program of the real node's images (no registry here, so
// the images are built from this file and Debian's busybox-static).
//
//	ktr-probe pause                 the pod sandbox's process: waits for a signal, reaps children
//	ktr-probe call [flags]          one GET to the API server with the mounted token; prints "status=<code>"
//	ktr-probe loop [flags]          the same every --every, forever (pod logs show each result)
//
// Flags of call/loop: --url (default https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api),
// --token-file and --ca-file (default: the projected service-account token), --server-name
// (TLS name to verify, default kubernetes.default.svc), --every (loop period).
package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ktr-probe pause | call [flags] | loop [flags]")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "pause":
		pause()
	case "call", "loop":
		os.Exit(call(os.Args[1] == "loop", os.Args[2:]))
	default:
		fmt.Fprintf(os.Stderr, "ktr-probe: unknown command %q: use pause, call or loop\n", os.Args[1])
		os.Exit(2)
	}
}

func pause() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		if sig == syscall.SIGCHLD {
			for {
				var status syscall.WaitStatus
				if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
					break
				}
			}
			continue
		}
		os.Exit(0)
	}
}

func call(loop bool, args []string) int {
	fs := flag.NewFlagSet("call", flag.ExitOnError)
	defaultURL := fmt.Sprintf("https://%s:%s/api", os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
	url := fs.String("url", defaultURL, "URL to GET")
	tokenFile := fs.String("token-file", saDir+"/token", "bearer token file, read before every call")
	caFile := fs.String("ca-file", saDir+"/ca.crt", "CA bundle that signs the API server's certificate")
	serverName := fs.String("server-name", "kubernetes.default.svc", "name to verify in the server certificate")
	every := fs.Duration("every", 2*time.Second, "loop period")
	_ = fs.Parse(args)
	for {
		code := once(*url, *tokenFile, *caFile, *serverName)
		if !loop {
			return code
		}
		time.Sleep(*every)
	}
}

// once prints one line: "<RFC3339> status=<code>" or "<RFC3339> error=<reason>".
func once(url, tokenFile, caFile, serverName string) int {
	now := time.Now().UTC().Format(time.RFC3339)
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		fmt.Printf("%s error=%q\n", now, err.Error())
		return 1
	}
	pool := x509.NewCertPool()
	if ca, err := os.ReadFile(caFile); err != nil || !pool.AppendCertsFromPEM(ca) {
		fmt.Printf("%s error=%q\n", now, fmt.Sprintf("no CA certificate in %s", caFile))
		return 1
	}
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: serverName}},
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	res, err := client.Do(req)
	if err != nil {
		fmt.Printf("%s error=%q\n", now, err.Error())
		return 1
	}
	res.Body.Close()
	fmt.Printf("%s status=%d\n", now, res.StatusCode)
	return 0
}
