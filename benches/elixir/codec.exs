# mix bench codec [ROUNDS]
#
# Payload: test/fixtures/message_create.json, a ~1.4 KB MESSAGE_CREATE, as an
# Elixir map with binary keys. Baselines in the same run: term_to_binary and
# binary_to_term for ETF, jsx (shipped with the Cowboy libraries) for JSON.
# Cases and baselines are interleaved in rounds; ratios are per round.

defmodule Bench.CodecScript do
  alias Realtime.{Bench, ETF, JSON}
  alias Realtime.Gateway.{Compression, Protocol}

  def run do
    json = File.read!(Path.expand("../../test/fixtures/message_create.json", __DIR__))
    {:ok, payload} = JSON.decode(json)
    jsx_payload = to_jsx(payload)
    otp_etf = :erlang.term_to_binary(payload)
    our_etf = ETF.encode(payload)
    our_json = JSON.encode(payload)

    IO.puts("payload: #{byte_size(json)} bytes of JSON; ETF #{byte_size(our_etf)} bytes (ours) vs #{byte_size(otp_etf)} (term_to_binary)")

    rounds = String.to_integer(List.first(System.argv()) || "7")
    opts = [samples: 60, warmup_ms: 50]

    Bench.rounds("ETF encode", {":erlang.term_to_binary/1", fn _ -> :erlang.term_to_binary(payload) end}, [
      {"Realtime.ETF.encode/1", fn _ -> ETF.encode(payload) end}
    ], rounds, opts)

    Bench.rounds("ETF decode", {":erlang.binary_to_term/1", fn _ -> :erlang.binary_to_term(otp_etf) end}, [
      {"Realtime.ETF.decode/1 (term_to_binary's bytes)", fn _ -> ETF.decode(otp_etf) end},
      {"Realtime.ETF.decode/1 (our bytes)", fn _ -> ETF.decode(our_etf) end},
      {":erlang.binary_to_term(bin, [:safe])", fn _ -> :erlang.binary_to_term(otp_etf, [:safe]) end}
    ], rounds, opts)

    # The whole path of one event to an ETF, zlib-stream client: the payload
    # encoded once, framed, and compressed on the connection's stream.
    [z_otp, z_ours] = for _ <- 1..2, do: Compression.new(:zlib)
    frame = %{"op" => 0, "s" => 1, "t" => "MESSAGE_CREATE", "d" => payload}

    Bench.rounds("payload → ETF frame → zlib-stream", {"term_to_binary of the frame, then zlib", fn _ -> Compression.compress(z_otp, :erlang.term_to_binary(frame)) end}, [
      {"ETF.encode, Protocol.dispatch, then zlib", fn i -> Compression.compress(z_ours, Protocol.dispatch(:etf, i + 1, "MESSAGE_CREATE", {:encoded, %{etf: ETF.encode(payload)}})) end}
    ], rounds, opts)

    Bench.rounds("JSON encode", {":jsx.encode/1", fn _ -> :jsx.encode(jsx_payload) end}, [
      {"Realtime.JSON.encode/1", fn _ -> JSON.encode(payload) end}
    ], rounds, opts)

    Bench.rounds("JSON decode", {":jsx.decode/2 (return_maps)", fn _ -> :jsx.decode(our_json, [:return_maps]) end}, [
      {"Realtime.JSON.decode/1", fn _ -> JSON.decode(our_json) end}
    ], rounds, opts)
  end

  defp to_jsx(nil), do: :null
  defp to_jsx(l) when is_list(l), do: Enum.map(l, &to_jsx/1)
  defp to_jsx(m) when is_map(m), do: Map.new(m, fn {k, v} -> {k, to_jsx(v)} end)
  defp to_jsx(x), do: x
end

Bench.CodecScript.run()
