defmodule Realtime.Gateway.Listener do
  @moduledoc """
  The Cowboy listener of the gateway, on loopback by default: the WebSocket
  gateway at `/` and the REST API under `/api/v10` and `/api/v9`, on one
  port. Its Ranch listener is supervised in this application's tree.
  """

  @doc """
  A child spec. Options: `:port` (0 picks a free one), `:ip` (default
  loopback), `:ref` (the listener's name), `:send_timeout` (ms a write to
  a client may block before its connection is closed; default the
  `:send_timeout` setting, 10,000), `:send_buffer` (the socket's kernel
  send buffer in bytes; default the `:send_buffer` setting, else the
  kernel's autotuned size, at most `net.ipv4.tcp_wmem`'s maximum). A client
  that stops reading holds at most that many bytes, for at most that long,
  and `Realtime.Gateway.Socket` closes it beyond `:max_queued_dispatches`.
  """
  @spec child_spec(keyword) :: Supervisor.child_spec()
  def child_spec(opts) do
    ref = Keyword.get(opts, :ref, __MODULE__)
    port = Keyword.get(opts, :port, 4000)
    ip = Keyword.get(opts, :ip, {127, 0, 0, 1})
    send_timeout = Keyword.get(opts, :send_timeout, Application.get_env(:realtime, :send_timeout, 10_000))

    dispatch =
      :cowboy_router.compile([
        {:_,
         [
           {"/api/v10/[...]", Realtime.Gateway.Rest, []},
           {"/api/v9/[...]", Realtime.Gateway.Rest, []},
           {"/", Realtime.Gateway.Socket, []}
         ]}
      ])

    # Bots keep one HTTP connection open for all their REST calls: allow
    # 1,000 requests on it (as nginx does) rather than Cowboy's 100.
    send_buffer = Keyword.get(opts, :send_buffer, Application.get_env(:realtime, :send_buffer))
    socket_opts = [ip: ip, port: port, send_timeout: send_timeout, send_timeout_close: true] ++ if(send_buffer, do: [sndbuf: send_buffer], else: [])

    :ranch.child_spec(ref, :ranch_tcp, %{socket_opts: socket_opts, num_acceptors: 4, max_connections: :infinity}, :cowboy_clear, %{
      env: %{dispatch: dispatch},
      max_keepalive: 1_000
    })
  end

  @doc "The port a running listener is bound to."
  @spec port(atom) :: :inet.port_number()
  def port(ref \\ __MODULE__), do: :ranch.get_port(ref)
end
