defmodule Realtime.JSONTest do
  use ExUnit.Case, async: true

  alias Realtime.JSON
  alias Realtime.Test.TermGen

  # Random JSON-shaped terms: maps with binary keys, lists, integers of any
  # size, floats, UTF-8 strings (with escapes and non-ASCII), nil and booleans.
  defp json_term(st, 0), do: scalar(st)

  defp json_term(st, depth) do
    {kind, st} = TermGen.int(st, 4)

    case kind do
      0 ->
        {n, st} = TermGen.int(st, 4)
        Enum.reduce(1..n//1, {[], st}, fn _, {acc, st} -> with {t, st} <- json_term(st, depth - 1), do: {[t | acc], st} end)

      1 ->
        {n, st} = TermGen.int(st, 4)

        Enum.reduce(1..n//1, {%{}, st}, fn _, {acc, st} ->
          {k, st} = string(st)
          {v, st} = json_term(st, depth - 1)
          {Map.put(acc, k, v), st}
        end)

      _ ->
        scalar(st)
    end
  end

  defp scalar(st) do
    {kind, st} = TermGen.int(st, 7)

    case kind do
      0 -> TermGen.pick(st, [nil, true, false])
      1 -> with {i, st} <- TermGen.int(st, 2_000_001), do: {i - 1_000_000, st}
      2 -> with {e, st} <- TermGen.int(st, 130), do: {-(2 ** e) + 1, st}
      3 -> with {x, st} <- :rand.normal_s(st), do: {x * 1.0e6, st}
      4 -> TermGen.pick(st, [0.0, 1.5, -2.0e-300, 1.0e300, 0.1])
      _ -> string(st)
    end
  end

  defp string(st) do
    {n, st} = TermGen.int(st, 6)

    Enum.reduce(1..n//1, {"", st}, fn _, {acc, st} ->
      {piece, st} = TermGen.pick(st, ["a", "é", "日本", "😀", "\"", "\\", "\n", <<1>>, "/", " "])
      {acc <> piece, st}
    end)
  end

  defp to_jsx(nil), do: :null
  defp to_jsx(l) when is_list(l), do: Enum.map(l, &to_jsx/1)
  defp to_jsx(m) when is_map(m), do: Map.new(m, fn {k, v} -> {k, to_jsx(v)} end)
  defp to_jsx(x), do: x

  test "round trips, and agreement with jsx, on seeded random documents" do
    seed = TermGen.seed()

    Enum.reduce(1..2_000, TermGen.new(seed), fn i, st ->
      {t, st} = json_term(st, 4)
      where = "seed #{seed}, case #{i} (rerun with SEED=#{seed}): #{inspect(t)}"
      ours = JSON.encode(t)
      assert JSON.decode(ours) == {:ok, t}, where
      assert :jsx.decode(ours, [:return_maps]) == to_jsx(t), where
      assert JSON.decode(:jsx.encode(to_jsx(t))) == {:ok, t}, where
      st
    end)
  end

  test "the MESSAGE_CREATE payload round-trips" do
    json = File.read!(Path.expand("../fixtures/message_create.json", __DIR__))
    assert {:ok, %{"d" => %{"author" => %{"username" => "nelly"}}} = t} = JSON.decode(json)
    assert JSON.decode(JSON.encode(t)) == {:ok, t}
  end

  test "encoding rules" do
    assert JSON.encode(%{a: [1, 2.5, nil, true, false, :ok]}) == ~s({"a":[1,2.5,null,true,false,"ok"]})
    assert JSON.encode(%{1 => "x"}) == ~s({"1":"x"})
    assert JSON.encode(2 ** 64) == "18446744073709551616"
    assert JSON.encode([2 ** 53, 2 ** 53 + 1, -(2 ** 60)], snowflakes_as_strings: true) ==
             ~s([9007199254740992,"9007199254740993","-1152921504606846976"])
    assert JSON.encode("\u0001\"\\/") == ~s("\\u0001\\"\\\\/")
    assert JSON.encode(0.1) == "0.1"
    assert_raise ArgumentError, ~r/invalid_utf8/, fn -> JSON.encode(%{"a" => <<0xFF>>}) end
    assert_raise ArgumentError, ~r/invalid_utf8/, fn -> JSON.encode(%{<<0xC3>> => 1}) end
    assert_raise ArgumentError, ~r/unsupported_type/, fn -> JSON.encode({1, 2}) end
    assert_raise ArgumentError, ~r/unsupported_type/, fn -> JSON.encode(self()) end
    assert_raise ArgumentError, ~r/improper_list/, fn -> JSON.encode([1 | 2]) end
    assert_raise ArgumentError, ~r/invalid_key/, fn -> JSON.encode(%{{1} => 2}) end
  end

  test "decoding keeps full precision" do
    assert JSON.decode("123456789012345678901234567890") == {:ok, 123_456_789_012_345_678_901_234_567_890}
    assert JSON.decode("-9223372036854775809") == {:ok, -9_223_372_036_854_775_809}
    assert JSON.decode("0.30000000000000004") == {:ok, 0.30000000000000004}
    assert JSON.decode(~s({"a":1,"a":2})) == {:ok, %{"a" => 2}}
  end

  test "hostile input gets a reason and an offset" do
    cases = [
      {"", {:unexpected_end, 0}},
      {"[1,]", {:unexpected_byte, 3}},
      {"{\"a\" 1}", {:unexpected_byte, 5}},
      {"01", {:invalid_number, 0}},
      {"1e400", {:invalid_number, 0}},
      {"\"\\q\"", {:invalid_escape, 1}},
      {"\"\\ud800\"", {:lone_surrogate, 1}},
      {<<?", 0xFF, ?">>, {:invalid_utf8, 1}},
      {<<?", 1, ?">>, {:control_character, 1}},
      {"[1] x", {:trailing_bytes, 4}},
      {"nul", {:unexpected_end, 3}}
    ]

    for {input, want} <- cases, do: assert(JSON.decode(input) == {:error, want}, inspect(input))

    doc = ~s({"k": [1, 2.5, "abc", {"n": null}], "s": "x\\u00e9"})

    for cut <- 0..(byte_size(doc) - 1) do
      assert {:error, {_, offset}} = JSON.decode(binary_part(doc, 0, cut))
      assert offset <= cut
    end
  end

  test "limits refuse depth bombs and oversized input" do
    assert {:error, {:too_deep, 512}} = JSON.decode(String.duplicate("[", 100_000))
    assert {:error, {:too_deep, 3}} = JSON.decode("[[[[1]]]]", max_depth: 3)
    assert {:error, {:input_too_large, 0}} = JSON.decode("[1,2,3]", max_size: 3)
    assert {:error, {:too_long, _}} = JSON.decode("[1,2,3]", max_length: 2)
    assert {:error, {:string_too_long, 1}} = JSON.decode(~s("abcdef"), max_string: 3)
  end

  test "large documents are handled (on dirty schedulers)" do
    big = %{"items" => Enum.map(1..50_000, &%{"id" => &1, "name" => "n#{&1}"})}
    assert {:ok, ^big} = JSON.decode(JSON.encode(big))
  end
end
