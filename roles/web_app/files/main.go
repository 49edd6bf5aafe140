// Copyright: (c) 2026, k8slab maintainers
// GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
// SPDX-License-Identifier: GPL-3.0-or-later

// The tutorial's pod: a Gin app that answers GET / with the name of the
// network namespace it runs in, so a reply shows which pod served it.
// GET /whoami (not in the tutorial) answers with the address the request
// came from, as this pod sees it: whether a hop on the way masqueraded it.
// With -udp-listen it also answers every UDP datagram with the same
// message, for UDP Services (standard library only: no module beyond Gin).
package main

import (
	"flag"
	"log"
	"net"
	"net/http"
	"os/exec"
	"strings"

	"github.com/gin-gonic/gin"
)

// namespaceName asks `ip netns identify` (as the tutorial does) which named
// network namespace this process is in; "root" when it is in none.
func namespaceName() string {
	out, _ := exec.Command("ip", "netns", "identify").Output()
	name := strings.TrimSpace(string(out))
	if name == "" {
		return "root"
	}
	// A process can be in a namespace with several names; the first will do.
	return strings.Fields(name)[0]
}

// serveUDP answers each datagram on addr with message, to the sender's
// address and port (the reply is what conntrack matches to the request).
func serveUDP(addr, message string) {
	conn, err := net.ListenPacket("udp", addr)
	if err != nil {
		// Exits non-zero (and systemd restarts it), as for TCP.
		log.Fatal(err)
	}
	reply := []byte(message + "\n")
	buf := make([]byte, 2048)
	for {
		_, peer, err := conn.ReadFrom(buf)
		if err != nil {
			log.Print(err)
			continue
		}
		if _, err := conn.WriteTo(reply, peer); err != nil {
			log.Print(err)
		}
	}
}

func main() {
	listen := flag.String("listen", ":8080", "address and port to listen on")
	udpListen := flag.String("udp-listen", "", "address and port to answer UDP datagrams on (none when empty)")
	flag.Parse()

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Logger(), gin.Recovery())

	message := "hello world from " + namespaceName() + " namespace"
	if *udpListen != "" {
		go serveUDP(*udpListen, message)
	}
	r.GET("/", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"message": message})
	})
	// The peer address of the connection itself, never a header a client
	// could set (Gin's ClientIP would trust X-Forwarded-For).
	r.GET("/whoami", func(c *gin.Context) {
		host, _, err := net.SplitHostPort(c.Request.RemoteAddr)
		if err != nil {
			host = c.Request.RemoteAddr
		}
		c.JSON(http.StatusOK, gin.H{"client": host})
	})
	// Exits non-zero (and systemd restarts it) when the port cannot be bound.
	log.Fatal(r.Run(*listen))
}
