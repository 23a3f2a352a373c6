defmodule Realtime.Gateway.Protocol do
  @moduledoc """
  The wire format of Discord's Gateway API v10: opcodes, close codes, and
  frames in JSON or ETF. Pure functions.

  Every frame carries all four keys `op`, `d`, `s` and `t` (null outside
  dispatches). A dispatch whose `d` was encoded once by the guild is framed
  by splicing: for JSON the bytes go between the envelope's, for ETF the map
  header and keys are written around `d` without its version byte.
  """

  alias Realtime.{ETF, JSON}

  @ops %{
    dispatch: 0,
    heartbeat: 1,
    identify: 2,
    presence_update: 3,
    voice_state_update: 4,
    resume: 6,
    reconnect: 7,
    request_guild_members: 8,
    invalid_session: 9,
    hello: 10,
    heartbeat_ack: 11,
    guild_subscriptions: 14,
    guild_subscriptions_bulk: 37
  }

  @close_codes %{
    unknown_error: 4000,
    # Ours, in Discord's resumable "unknown error" code: the client did not
    # read what was sent to it fast enough (see Realtime.Gateway.Socket).
    slow_consumer: 4000,
    unknown_opcode: 4001,
    decode_error: 4002,
    not_authenticated: 4003,
    authentication_failed: 4004,
    already_authenticated: 4005,
    invalid_seq: 4007,
    rate_limited: 4008,
    session_timed_out: 4009,
    invalid_shard: 4010,
    sharding_required: 4011,
    invalid_api_version: 4012,
    invalid_intents: 4013,
    disallowed_intents: 4014
  }

  @type encoding :: :json | :etf
  @type frame :: %{String.t() => term}

  @doc "The number of an opcode."
  @spec op(atom) :: non_neg_integer
  def op(name), do: Map.fetch!(@ops, name)

  @doc "The name of an opcode number, or `:unknown`."
  @spec op_name(term) :: atom
  for {name, n} <- @ops do
    def op_name(unquote(n)), do: unquote(name)
  end

  def op_name(_), do: :unknown

  @doc "The close code for a reason."
  @spec close_code(atom) :: 4000..4014
  def close_code(reason), do: Map.fetch!(@close_codes, reason)

  @doc "Parses the `encoding` query parameter."
  @spec parse_encoding(String.t() | nil) :: {:ok, encoding} | :error
  def parse_encoding(nil), do: {:ok, :json}
  def parse_encoding("json"), do: {:ok, :json}
  def parse_encoding("etf"), do: {:ok, :etf}
  def parse_encoding(_), do: :error

  @doc "A non-dispatch frame."
  @spec encode(encoding, atom, term) :: iodata
  def encode(:json, op, d), do: JSON.encode(%{"op" => op(op), "d" => d, "s" => nil, "t" => nil})
  def encode(:etf, op, d), do: ETF.encode(%{"op" => op(op), "d" => d, "s" => nil, "t" => nil})

  @doc """
  A dispatch frame. `payload` is `{:term, d}`, or `{:encoded, %{json: bin,
  etf: bin}}` with `d` encoded once for every recipient. A guild encodes
  only what its recipients read; a session that resumed in the other
  encoding gets the event transcoded from the one there is.
  """
  @spec dispatch(encoding, pos_integer, String.t(), {:term, term} | {:encoded, map}) :: iodata
  def dispatch(:json, seq, t, {:term, d}), do: dispatch(:json, seq, t, {:encoded, %{json: JSON.encode(d)}})

  def dispatch(:etf, seq, t, {:term, d}),
    do: ETF.encode(%{"op" => 0, "d" => d, "s" => seq, "t" => t})

  def dispatch(:json, seq, t, {:encoded, %{json: d}}),
    do: [~s({"op":0,"s":), Integer.to_string(seq), ~s(,"t":"), t, ~s(","d":), d, ?}]

  def dispatch(:json, seq, t, {:encoded, %{etf: etf}}) do
    {:ok, d} = ETF.decode(etf)
    dispatch(:json, seq, t, {:term, d})
  end

  def dispatch(:etf, seq, t, {:encoded, %{json: json} = encoded}) when not is_map_key(encoded, :etf) do
    {:ok, d} = JSON.decode(json)
    dispatch(:etf, seq, t, {:term, d})
  end

  def dispatch(:etf, seq, t, {:encoded, %{etf: <<131, d::binary>>}}) do
    [
      <<131, 116, 4::32, 109, 1::32, "d">>,
      d,
      <<109, 2::32, "op", 97, 0, 109, 1::32, "s">>,
      etf_int(seq),
      <<109, 1::32, "t", 109, byte_size(t)::32>>,
      t
    ]
  end

  defp etf_int(n) when n < 256, do: <<97, n>>
  defp etf_int(n) when n < 2_147_483_648, do: <<98, n::32>>
  defp etf_int(n), do: binary_part(ETF.encode(n), 1, byte_size(ETF.encode(n)) - 1)

  @doc """
  Decodes a client frame: a map with binary keys and an integer `op`.
  Returns `{:ok, op, d}` or `{:error, reason}`; a decode error closes the
  connection with 4002.
  """
  @spec decode(encoding, binary) :: {:ok, integer, term} | {:error, term}
  def decode(:json, bin), do: bin |> JSON.decode(max_size: 4096, max_depth: 32) |> frame()
  def decode(:etf, bin), do: bin |> ETF.decode(max_size: 4096, max_depth: 32, max_decompressed: 4096) |> frame()

  defp frame({:ok, %{"op" => op} = f}) when is_integer(op) do
    if Enum.all?(Map.keys(f), &is_binary/1), do: {:ok, op, f["d"]}, else: {:error, :atom_keys}
  end

  defp frame({:ok, %{} = f}) do
    if Enum.all?(Map.keys(f), &is_binary/1), do: {:error, :no_op}, else: {:error, :atom_keys}
  end

  defp frame({:ok, _}), do: {:error, :not_a_map}
  defp frame({:error, reason}), do: {:error, reason}
end
