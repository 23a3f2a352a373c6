defmodule Realtime.Gateway.Socket do
  @moduledoc """
  The Cowboy WebSocket handler: one process per connection. Its only jobs
  are frames in and out, decoding and encoding (`Realtime.JSON` or
  `Realtime.ETF`), transport compression, heartbeat timing and rate
  limiting. Sessions (`Realtime.Gateway.Session`) do the rest.

  Query string: `v` (9 or 10), `encoding` (`json`, `etf`), `compress`
  (`zlib-stream`, `zstd-stream`). Client frames may be text or binary, at
  most 4096 bytes; more than 120 in 60 seconds closes with 4008.
  """

  require Realtime.Metrics, as: Metrics
  @behaviour :cowboy_websocket

  alias Realtime.Directory
  alias Realtime.Gateway.{Compression, IdentifyLimit, Intents, Protocol, RateLimit, Session}

  require Logger

  @max_frame 4096

  defstruct [:encoding, :compress, :zctx, :error, :session, :session_id, :user, :shard, :closing, :received_at, heartbeat_seen: true, rate: nil, max_queued: 1_000]

  @impl true
  def init(req, _opts) do
    qs = :cowboy_req.parse_qs(req) |> Map.new()

    state =
      case {qs["v"], Protocol.parse_encoding(qs["encoding"]), Compression.parse(qs["compress"])} do
        {v, _, _} when v not in [nil, "9", "10"] -> %__MODULE__{encoding: :json, compress: :none, error: :invalid_api_version}
        {_, :error, _} -> %__MODULE__{encoding: :json, compress: :none, error: :decode_error}
        {_, _, :error} -> %__MODULE__{encoding: :json, compress: :none, error: :decode_error}
        {_, {:ok, enc}, {:ok, comp}} -> %__MODULE__{encoding: enc, compress: comp}
      end

    # Cowboy's own limit is above ours, so that an oversized frame gets our
    # close code (4002) rather than 1009.
    {limit, window} = Application.get_env(:realtime, :rate_limit, {120, 60_000})
    max_queued = Application.get_env(:realtime, :max_queued_dispatches, 1_000)
    state = %{state | rate: RateLimit.new(limit, window), max_queued: max_queued}
    {:cowboy_websocket, req, state, %{max_frame_size: 1_048_576, idle_timeout: :infinity}}
  end

  @impl true
  def websocket_init(%{error: reason} = state) when reason != nil, do: close(state, reason)

  def websocket_init(state) do
    Metrics.inc(:connections)
    log(state, "connected")
    state = %{state | zctx: Compression.new(state.compress)}
    interval = heartbeat_interval()
    schedule_heartbeat_check(interval)
    reply(state, [Protocol.encode(state.encoding, :hello, %{"heartbeat_interval" => interval})])
  end

  @impl true
  def websocket_handle({kind, data}, state) when kind in [:text, :binary] do
    state = %{state | received_at: System.monotonic_time(:microsecond)}

    with {:ok, rate} <- rate(state),
         :ok <- size(data),
         {:ok, op, d} <- decode(state, data) do
      handle_op(Protocol.op_name(op), d, %{state | rate: rate})
    else
      {:close, reason} -> close(state, reason)
    end
  end

  def websocket_handle(_other, state), do: {:ok, state}

  defp rate(state) do
    case RateLimit.hit(state.rate, System.monotonic_time(:millisecond)) do
      {:ok, rate} -> {:ok, rate}
      :limited -> Metrics.inc(:rate_limited, "gateway_frames") && {:close, :rate_limited}
    end
  end

  defp size(data) when byte_size(data) > @max_frame, do: {:close, :decode_error}
  defp size(_data), do: :ok

  defp decode(state, data) do
    case Protocol.decode(state.encoding, data) do
      {:ok, op, d} -> {:ok, op, d}
      {:error, _} -> {:close, :decode_error}
    end
  end

  defp handle_op(:heartbeat, _d, state) do
    reply(%{state | heartbeat_seen: true}, [Protocol.encode(state.encoding, :heartbeat_ack, nil)])
  end

  defp handle_op(:identify, _d, %{session: s} = state) when s != nil, do: close(state, :already_authenticated)
  defp handle_op(:identify, d, state), do: identify(d, state)
  defp handle_op(:resume, _d, %{session: s} = state) when s != nil, do: close(state, :already_authenticated)
  defp handle_op(:resume, d, state), do: resume(d, state)
  defp handle_op(:unknown, _d, state), do: close(state, :unknown_opcode)
  defp handle_op(_op, _d, %{session: nil} = state), do: close(state, :not_authenticated)

  defp handle_op(:request_guild_members, d, state) do
    case member_request(d) do
      {:ok, guild_id, request} ->
        Session.request_members(state.session, guild_id, request)
        {:ok, state}

      :error ->
        close(state, :decode_error)
    end
  end

  defp handle_op(:presence_update, %{"status" => status} = d, state) when status in ["online", "idle", "dnd", "invisible", "offline"] do
    activities = if is_list(d["activities"]), do: d["activities"], else: []
    Session.update_presence(state.session, %{"status" => status, "activities" => activities, "client_status" => %{"desktop" => status}})
    {:ok, state}
  end

  defp handle_op(:presence_update, _d, state), do: close(state, :decode_error)

  defp handle_op(:guild_subscriptions, d, state) do
    subscribe_lists(state, [d])
    {:ok, state}
  end

  defp handle_op(:guild_subscriptions_bulk, %{"subscriptions" => subs}, state) when is_map(subs) do
    subscribe_lists(state, for({gid, sub} <- subs, is_map(sub), do: Map.put(sub, "guild_id", gid)))
    {:ok, state}
  end

  defp handle_op(:guild_subscriptions_bulk, _d, state), do: close(state, :decode_error)

  # Voice state updates are accepted and not acted on yet.
  defp handle_op(:voice_state_update, _d, state), do: {:ok, state}

  # Opcodes only the server sends.
  defp handle_op(_op, _d, state), do: close(state, :unknown_opcode)

  defp identify(%{"token" => token, "properties" => props, "intents" => intents} = d, state)
       when is_binary(token) and is_map(props) and is_integer(intents) do
    with {:ok, shard} <- shard(d["shard"]),
         {:ok, threshold} <- large_threshold(d["large_threshold"]),
         {:ok, user} <- auth(token),
         :ok <- intents(intents, user),
         :ok <- sharding_required(user, shard),
         :ok <- admit(user, shard) do
      opts = [user: user, intents: intents, shard: shard, large_threshold: threshold, encoding: state.encoding, identified_at: state.received_at]
      {:ok, session, id} = Session.start(self(), opts)
      Process.monitor(session)
      state = %{state | session: session, session_id: id, user: user, shard: shard}
      log(state, "identified")
      {:ok, state}
    else
      {:close, reason} -> close(state, reason)
      :invalid_session -> reply(state, [Protocol.encode(state.encoding, :invalid_session, false)])
    end
  end

  defp identify(_d, state), do: close(state, :decode_error)

  # Identify concurrency and the session start limit: Discord answers an
  # identify over either with Invalid Session, and the client tries again.
  defp admit(user, {shard_id, _}) do
    case IdentifyLimit.admit(user, shard_id) do
      :ok -> :ok
      {:error, _} -> Metrics.inc(:rate_limited, "identify") && :invalid_session
    end
  end

  defp shard(nil), do: {:ok, {0, 1}}
  defp shard([id, n]) when is_integer(id) and is_integer(n) and n >= 1 and id >= 0 and id < n, do: {:ok, {id, n}}
  defp shard([id, n]) when is_integer(id) and is_integer(n), do: {:close, :invalid_shard}
  defp shard(_), do: {:close, :decode_error}

  # Like Discord, too many guilds on one shard must be split (4011).
  defp sharding_required(user, {id, n}) do
    limit = Application.get_env(:realtime, :max_guilds_per_shard, 2_500)
    guilds = user.id |> Directory.guilds_of() |> Enum.count(&(rem(Bitwise.bsr(&1, 22), n) == id))
    if guilds > limit, do: {:close, :sharding_required}, else: :ok
  end

  defp large_threshold(nil), do: {:ok, 50}
  defp large_threshold(n) when is_integer(n) and n in 50..250, do: {:ok, n}
  defp large_threshold(_), do: {:close, :decode_error}

  defp auth(token) do
    case Directory.authenticate(token) do
      {:ok, user} -> {:ok, user}
      :error -> {:close, :authentication_failed}
    end
  end

  defp intents(intents, user) do
    case Intents.check(intents, user.privileged_intents) do
      :ok -> :ok
      {:error, :invalid} -> {:close, :invalid_intents}
      {:error, :disallowed} -> {:close, :disallowed_intents}
    end
  end

  defp resume(%{"token" => token, "session_id" => id, "seq" => seq}, state)
       when is_binary(token) and is_binary(id) and (is_integer(seq) or is_nil(seq)) do
    with {:ok, user} <- auth(token),
         {:ok, session} <- Session.resume(id, self(), seq || 0, user) do
      Process.monitor(session)
      Metrics.inc(:resumes, "resumed")
      state = %{state | session: session, session_id: id, user: user}
      log(state, "resumed")
      {:ok, state}
    else
      {:close, reason} -> close(state, reason)
      {:error, :invalid_seq} -> close(state, :invalid_seq)
      _ -> Metrics.inc(:resumes, "invalid") && reply(state, [Protocol.encode(state.encoding, :invalid_session, false)])
    end
  end

  defp resume(_d, state), do: close(state, :decode_error)

  # Malformed parts of a subscription are ignored, as Discord does.
  defp subscribe_lists(state, subs) do
    for %{"guild_id" => gid, "channels" => channels} <- subs,
        is_map(channels),
        [guild_id] <- [parse_id(gid)] do
      parsed = for {cid, ranges} <- channels, [channel_id] <- [parse_id(cid)], into: %{}, do: {channel_id, ranges}
      Session.subscribe_lists(state.session, guild_id, parsed)
    end
  end

  defp member_request(%{"guild_id" => gid} = d) do
    with {guild_id, ""} <- Integer.parse(to_string(gid)) do
      request =
        case d do
          %{"user_ids" => ids} when is_list(ids) -> %{user_ids: Enum.flat_map(ids, &parse_id/1)}
          %{"query" => q} when is_binary(q) -> %{query: q, limit: if(is_integer(d["limit"]), do: d["limit"], else: 0)}
          _ -> nil
        end

      if request, do: {:ok, guild_id, Map.put(request, :nonce, d["nonce"])}, else: :error
    else
      _ -> :error
    end
  end

  defp member_request(_), do: :error

  defp parse_id(id) do
    case Integer.parse(to_string(id)) do
      {n, ""} -> [n]
      _ -> []
    end
  end

  # A client that does not read its socket must not make this process hold
  # an unbounded backlog: past `max_queued` dispatches waiting here it is
  # closed (4000, resumable, reason "slow_consumer"), and resumes from the
  # session's replay buffer. Writes themselves are bounded by the socket's
  # `send_timeout` (see Realtime.Gateway.Listener).
  @impl true
  def websocket_info({:gateway_dispatch, seq, t, payload}, state) do
    # Clocks of two nodes may disagree by a little: never a negative time.
    with {:encoded, %{at: at}} <- payload, do: Metrics.observe(:delivery, nil, max(System.os_time(:microsecond) - at, 0))

    case Process.info(self(), :message_queue_len) do
      {:message_queue_len, queued} when queued > state.max_queued -> close(state, :slow_consumer)
      _ -> reply(state, [Protocol.dispatch(state.encoding, seq, t, payload)])
    end
  end

  # A resume's missed dispatches, in order.
  def websocket_info({:gateway_replay, missed}, state),
    do: reply(state, for({seq, t, payload} <- missed, do: Protocol.dispatch(state.encoding, seq, t, payload)))

  # Reconnect (op 7): the client should reconnect and resume. The close
  # (4000) keeps the session resumable.
  def websocket_info(:gateway_reconnect, state) do
    {frames, state} = reply(state, [Protocol.encode(state.encoding, :reconnect, nil)])
    {closing, state} = close(state, :unknown_error)
    {frames ++ closing, state}
  end

  def websocket_info(:heartbeat_check, %{heartbeat_seen: false} = state), do: close(state, :session_timed_out)

  def websocket_info(:heartbeat_check, state) do
    schedule_heartbeat_check(heartbeat_interval())
    {:ok, %{state | heartbeat_seen: false}}
  end

  def websocket_info({:DOWN, _, :process, pid, _}, %{session: pid} = state) do
    # The session ended under us (expired or invalidated): ask for a new one.
    reply(%{state | session: nil}, [Protocol.encode(state.encoding, :invalid_session, false)])
  end

  def websocket_info(_msg, state), do: {:ok, state}

  @impl true
  def terminate({:remote, code, _}, _req, state) do
    Metrics.inc(:closes, code)
    log(state, "closed", "by=client code=#{code}")
    if code in [1000, 1001] and is_pid(state.session), do: Session.close(state.session)
    :ok
  end

  def terminate(reason, _req, state) do
    if state.closing == nil, do: log(state, "closed", "by=transport reason=#{inspect(reason)}")
    :ok
  end

  defp reply(state, frames) do
    kind = if state.encoding == :etf or state.compress != :none, do: :binary, else: :text

    out =
      Enum.map(frames, fn frame ->
        compressed = Compression.compress(state.zctx || :none, frame)
        Metrics.inc(:bytes_out, "uncompressed", IO.iodata_length(frame))
        Metrics.inc(:bytes_out, "sent", IO.iodata_length(compressed))
        {kind, compressed}
      end)

    {out, state}
  end

  defp close(state, reason) do
    code = Protocol.close_code(reason)
    Metrics.inc(:closes, code)
    if reason == :slow_consumer, do: Metrics.inc(:slow_consumers)
    log(state, "closed", "by=server code=#{code} reason=#{reason}")
    {[{:close, code, Atom.to_string(reason)}], %{state | closing: code}}
  end

  # One line per connection lifecycle event: never one per dispatch.
  defp log(state, event, extra \\ "") do
    shard = with {id, n} <- state.shard, do: "#{id}/#{n}"
    user = state.user && state.user.id
    Logger.info("gateway #{event} session=#{state.session_id || "-"} user=#{user || "-"} shard=#{shard || "-"} #{extra}")
  end

  defp heartbeat_interval, do: Application.get_env(:realtime, :heartbeat_interval, 41_250)

  # A heartbeat must arrive within each interval plus half of one.
  defp schedule_heartbeat_check(interval), do: Process.send_after(self(), :heartbeat_check, div(interval * 3, 2))
end
