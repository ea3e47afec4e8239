/*
 * rt_listen.h - the listening socket a daemon inherits from systemd socket activation
 * (sd_listen_fds(3) protocol, read without libsystemd): LISTEN_PID must be our pid and
 * LISTEN_FDS the number of sockets passed from fd 3 on. Both daemons take exactly one socket.
 *
 * Why activation (docs/operations.md, "Restarting without losing a request"): the socket and its
 * accept queue belong to systemd, not to the process, so while one process drains and exits and
 * the next one starts, new connections wait in the queue instead of being refused; SO_REUSEPORT
 * hand-over gives each process its own queue, and connections still queued on the old one when
 * it closes are reset.
 *
 * Limits: the variables are numbers of at most 10 digits; LISTEN_FDNAMES is ignored. Nothing here
 * allocates. The variables are removed from the environment once read, so that no child process
 * believes the socket is its own.
 */
#ifndef RT_LISTEN_H
#define RT_LISTEN_H

#include <stddef.h>

#include "ak_err.h"

#define RT_LISTEN_FDS_START 3

/*
 * Parse the two variables (either may be NULL = unset). *n_fds = 0 when the sockets are not for
 * us (a variable unset, or LISTEN_PID another process's); otherwise the count (>= 1).
 * AK_ERR_CONFIG with err set for a malformed value.
 */
AK_WUR ak_err rt_listen_parse_env(int *n_fds, const char *listen_pid, const char *listen_fds,
                                  long self_pid, char *err, size_t err_cap);

/*
 * The inherited listening socket: *fd = RT_LISTEN_FDS_START when systemd passed one TCP socket
 * that is listening, -1 when the process was not socket-activated. AK_ERR_CONFIG (err set) when
 * it was but the socket is not exactly one listening TCP stream socket. Unsets LISTEN_PID,
 * LISTEN_FDS and LISTEN_FDNAMES; marks the socket close-on-exec.
 */
AK_WUR ak_err rt_listen_inherited(int *fd, char *err, size_t err_cap);

/* The local port of a socket, 0 if unknown. */
unsigned rt_listen_port(int fd);

#endif
