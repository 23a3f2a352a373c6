defmodule Realtime.Test.GatewayClient do
  @moduledoc """
  A gateway client for tests: Gun over loopback, with transport compression
  undone by independent implementations (a fresh `:zlib` inflate context for
  zlib-stream, Python's zstandard for zstd-stream), and frames decoded with
  OTP's own `binary_to_term` for ETF.
  """

  alias Realtime.JSON

  defstruct [:conn, :ref, :encoding, :compress, :inflate, :port]

  @python Path.expand("../../.venv/bin/python", __DIR__)
  @zstd_peer Path.expand("zstd_peer.py", __DIR__)

  @doc "Opens a WebSocket to the gateway on `port` with query options."
  def connect(port, opts \\ []) do
    encoding = Keyword.get(opts, :encoding, :json)
    compress = Keyword.get(opts, :compress, nil)
    qs = URI.encode_query([v: Keyword.get(opts, :v, "10"), encoding: encoding] ++ if(compress, do: [compress: compress], else: []))
    {:ok, conn} = :gun.open(~c"127.0.0.1", port, %{protocols: [:http], retry: 0})
    {:ok, :http} = :gun.await_up(conn, 5_000)
    ref = :gun.ws_upgrade(conn, ~c"/?" ++ String.to_charlist(qs))

    receive do
      {:gun_upgrade, ^conn, ^ref, ["websocket"], _} -> :ok
      {:gun_response, ^conn, _, _, status, _} -> raise "upgrade refused: #{status}"
    after
      5_000 -> raise "no websocket upgrade"
    end

    %__MODULE__{conn: conn, ref: ref, encoding: encoding, compress: compress, inflate: inflater(compress), port: zstd_port(compress)}
  end

  defp inflater("zlib-stream") do
    z = :zlib.open()
    :ok = :zlib.inflateInit(z)
    z
  end

  defp inflater(_), do: nil

  defp zstd_port("zstd-stream"), do: Port.open({:spawn_executable, @python}, [:binary, {:packet, 4}, args: [@zstd_peer]])
  defp zstd_port(_), do: nil

  @doc "Sends a frame `%{op, d}` in the connection's encoding."
  def send_frame(c, op, d) do
    frame = %{"op" => op, "d" => d}

    case c.encoding do
      :json -> :gun.ws_send(c.conn, {:text, JSON.encode(frame)})
      :etf -> :gun.ws_send(c.conn, {:binary, :erlang.term_to_binary(frame)})
    end

    c
  end

  @doc "Sends raw bytes as a frame of `kind` (:text or :binary)."
  def send_raw(c, kind, data), do: :gun.ws_send(c.conn, {kind, data})

  @doc """
  The next server frame, decoded: `{:frame, map}` or `{:close, code}`.
  Raises after `timeout` ms.
  """
  def recv(c, timeout \\ 5_000) do
    %{conn: conn} = c

    receive do
      {:gun_ws, ^conn, _, {:close, code, _}} -> {:close, code}
      {:gun_ws, ^conn, _, {kind, data}} -> {:frame, decode(c, kind, data)}
      {:gun_down, ^conn, _, _, _, _} -> {:close, :down}
    after
      timeout -> raise "no frame within #{timeout} ms"
    end
  end

  @doc "Receives frames until one with `t == name` (dispatch); returns it and those skipped."
  def await_dispatch(c, name, timeout \\ 5_000) do
    case recv(c, timeout) do
      {:frame, %{"op" => 0, "t" => ^name} = f} -> f
      {:frame, _other} -> await_dispatch(c, name, timeout)
      {:close, code} -> raise "closed with #{inspect(code)} while waiting for #{name}"
    end
  end

  @doc "Asserts nothing arrives within `ms` (other than heartbeat acks)."
  def silent?(c, ms) do
    %{conn: conn} = c

    receive do
      {:gun_ws, ^conn, _, {kind, data}} when kind in [:text, :binary] ->
        case decode(c, kind, data) do
          %{"op" => 11} -> silent?(c, ms)
          _ -> false
        end
    after
      ms -> true
    end
  end

  defp decode(c, kind, data) do
    bytes = decompress(c, data)

    case {c.encoding, kind, c.compress} do
      {:json, :text, nil} -> elem(JSON.decode(bytes), 1)
      {:json, :binary, comp} when comp != nil -> elem(JSON.decode(bytes), 1)
      {:etf, :binary, _} -> :erlang.binary_to_term(bytes)
      other -> raise "unexpected frame kind #{inspect(other)}"
    end
  end

  defp decompress(%{compress: nil}, data), do: data

  defp decompress(%{compress: "zlib-stream", inflate: z}, data) do
    # Every message must end with the sync-flush marker.
    true = String.ends_with?(data, <<0, 0, 255, 255>>)
    z |> :zlib.inflate(data) |> IO.iodata_to_binary()
  end

  defp decompress(%{compress: "zstd-stream", port: port}, data) do
    Port.command(port, data)

    receive do
      {^port, {:data, out}} -> out
    after
      5_000 -> raise "zstd peer did not answer"
    end
  end

  @doc "Closes the connection with a close frame (`code`), or drops it."
  def close(c, code \\ 1000)
  def close(c, :drop), do: :gun.shutdown(c.conn)

  def close(c, code) do
    :gun.ws_send(c.conn, {:close, code, ""})
    await_close(c.conn)
    :gun.shutdown(c.conn)
  end

  # gun's shutdown kills the connection at once, so wait for the server's
  # close reply first, or our close frame may never leave.
  defp await_close(conn) do
    receive do
      {:gun_ws, ^conn, _, {:close, _, _}} -> :ok
      {:gun_ws, ^conn, _, _} -> await_close(conn)
      {:gun_down, ^conn, _, _, _, _} -> :ok
    after
      2_000 -> :ok
    end
  end

  @doc """
  HELLO, then IDENTIFY with `token` and `extra` fields (intents default to
  GUILDS, GUILD_MESSAGES and MESSAGE_CONTENT); returns the READY dispatch.
  """
  def identify(c, token, extra \\ %{}) do
    {:frame, %{"op" => 10, "d" => %{"heartbeat_interval" => _}}} = recv(c)
    d = Map.merge(%{"token" => token, "intents" => 33_281, "properties" => %{"os" => "linux", "browser" => "test", "device" => "test"}}, extra)
    send_frame(c, 2, d)
    await_dispatch(c, "READY")
  end

  @doc "An HTTP request to the REST API; returns `{status, headers, decoded_body}`."
  def rest(port, method, path, token, body \\ nil) do
    {status, headers, raw} = rest_raw(port, method, path, token, body)
    {status, headers, raw && elem(JSON.decode(raw), 1)}
  end

  @doc "An HTTP request to the REST API; returns `{status, headers, body_bytes | nil}`."
  def rest_raw(port, method, path, token, body \\ nil) do
    {:ok, conn} = :gun.open(~c"127.0.0.1", port, %{protocols: [:http], retry: 0})
    {:ok, :http} = :gun.await_up(conn, 5_000)
    headers = if(token, do: [{"authorization", "Bot " <> token}], else: []) ++ [{"content-type", "application/json"}]
    method = method |> Atom.to_string() |> String.upcase()
    ref = :gun.request(conn, method, path, headers, body || "")

    result =
      case :gun.await(conn, ref, 5_000) do
        {:response, :fin, status, hs} -> {status, hs, nil}
        {:response, :nofin, status, hs} -> with {:ok, b} <- :gun.await_body(conn, ref, 5_000), do: {status, hs, b}
      end

    :gun.close(conn)
    result
  end
end
