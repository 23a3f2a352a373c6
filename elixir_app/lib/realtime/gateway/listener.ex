defmodule Realtime.Gateway.Listener do
  @moduledoc """
  The Cowboy listener of the gateway, on loopback by default: the WebSocket
  gateway at `/` and the REST API under `/api/v10` and `/api/v9`, on one
  port. Its Ranch listener is supervised in this application's tree.
  """

  @doc """
  A child spec. Options: `:port` (0 picks a free one), `:ip` (default
  loopback), `:ref` (the listener's name).
  """
  @spec child_spec(keyword) :: Supervisor.child_spec()
  def child_spec(opts) do
    ref = Keyword.get(opts, :ref, __MODULE__)
    port = Keyword.get(opts, :port, 4000)
    ip = Keyword.get(opts, :ip, {127, 0, 0, 1})

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
    :ranch.child_spec(ref, :ranch_tcp, %{socket_opts: [ip: ip, port: port], num_acceptors: 4}, :cowboy_clear, %{
      env: %{dispatch: dispatch},
      max_keepalive: 1_000
    })
  end

  @doc "The port a running listener is bound to."
  @spec port(atom) :: :inet.port_number()
  def port(ref \\ __MODULE__), do: :ranch.get_port(ref)
end
