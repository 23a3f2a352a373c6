defmodule Realtime.ETFTest do
  use ExUnit.Case, async: true

  alias Realtime.ETF
  alias Realtime.Test.TermGen

  describe "round trips against OTP on seeded random terms" do
    test "binary_to_term(encode(t)) === t and decode(term_to_binary(t)) === t" do
      seed = TermGen.seed()
      st = TermGen.new(seed)

      Enum.reduce(1..3_000, st, fn i, st ->
        {t, st} = TermGen.term(st, 4)
        where = "seed #{seed}, case #{i} (rerun with SEED=#{seed}): #{inspect(t)}"
        assert :erlang.binary_to_term(ETF.encode(t)) === t, where
        assert ETF.decode(:erlang.term_to_binary(t), atoms: :create) === {:ok, t}, where
        assert ETF.decode(:erlang.term_to_binary(t, [:compressed]), atoms: :create) === {:ok, t}, where
        assert ETF.decode(ETF.encode(t, compressed: 1)) === {:ok, t}, where
        st
      end)
    end

    test "pids, references, ports and funs round-trip exactly" do
      t = {self(), make_ref(), hd(Port.list()), &Enum.map/2, fn x -> x end}
      assert :erlang.binary_to_term(ETF.encode(t)) === t
      assert ETF.decode(ETF.encode(t)) === {:ok, t}
    end

    test "maps are written with sorted keys and strings only on request" do
      assert <<131, 116, 0, 0, 0, 2, 97, 1, _::binary>> = ETF.encode(%{1 => :a, :b => 2})
      assert ETF.encode([1, 2, 3]) == <<131, 108, 0, 0, 0, 3, 97, 1, 97, 2, 97, 3, 106>>
      assert ETF.encode([1, 2, 3], string_ext: true) == :erlang.term_to_binary([1, 2, 3])
      assert ETF.encode(:ok) == <<131, 115, 2, "ok">>
      assert ETF.encode(:é) == <<131, 119, 2, "é"::binary>>
    end

    test "large terms are encoded and decoded (on dirty schedulers)" do
      big = %{"list" => Enum.to_list(1..200_000), "bin" => :binary.copy("x", 1_000_000)}
      assert {:ok, ^big} = ETF.decode(ETF.encode(big))
    end
  end

  describe "hand-written vectors for every tag" do
    @vectors [
      {<<131, 97, 255>>, 255},
      {<<131, 98, 255, 255, 255, 255>>, -1},
      {<<131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1>>, 2 ** 64},
      {<<131, 111, 0, 0, 0, 1, 1, 9>>, -9},
      {<<131, 70, 63, 248, 0, 0, 0, 0, 0, 0>>, 1.5},
      {<<131, 99, "1.50000000000000000000e+00", 0, 0, 0, 0, 0>>, 1.5},
      {<<131, 100, 0, 2, "ok">>, :ok},
      {<<131, 115, 2, "ok">>, :ok},
      {<<131, 118, 0, 2, "é">>, :é},
      {<<131, 119, 2, "é">>, :é},
      {<<131, 104, 0>>, {}},
      {<<131, 105, 0, 0, 0, 2, 97, 1, 97, 2>>, {1, 2}},
      {<<131, 106>>, []},
      {<<131, 107, 0, 3, "abc">>, ~c"abc"},
      {<<131, 108, 0, 0, 0, 2, 97, 1, 97, 2, 97, 3>>, [1, 2 | 3]},
      {<<131, 109, 0, 0, 0, 3, 0, 255, 1>>, <<0, 255, 1>>},
      {<<131, 77, 0, 0, 0, 1, 3, 0b10100000>>, <<0b101::3>>},
      {<<131, 116, 0, 0, 0, 1, 115, 1, "a", 97, 1>>, %{a: 1}}
    ]

    test "each decodes as binary_to_term does" do
      for {bytes, want} <- @vectors do
        assert :erlang.binary_to_term(bytes) === want, inspect(bytes)
        assert ETF.decode(bytes) === {:ok, want}, inspect(bytes)
      end
    end

    test "trailing bytes are an error unless return_used" do
      assert ETF.decode(<<131, 97, 1, 0>>) == {:error, {:trailing_bytes, 3}}
      assert ETF.decode(<<131, 97, 1, 0>>, return_used: true) == {:ok, 1, 3}
    end
  end

  describe "hostile input" do
    test "every truncation is an error" do
      t = %{"d" => [1, 2.5, "x", {:ok, 2 ** 80}], "e" => %{a: <<1::3>>}}

      for bin <- [ETF.encode(t), :erlang.term_to_binary(t), ETF.encode(t, compressed: 6)],
          cut <- 0..(byte_size(bin) - 1) do
        assert {:error, {reason, offset}} = ETF.decode(binary_part(bin, 0, cut))
        assert is_atom(reason) and is_integer(offset)
      end
    end

    test "wrong versions, tags and lengths" do
      assert {:error, {:bad_version, 0}} = ETF.decode(<<130, 97, 1>>)
      assert {:error, {:bad_tag, 1}} = ETF.decode(<<131, 200>>)
      assert {:error, {:too_long, _}} = ETF.decode(<<131, 108, 255, 255, 255, 255, 106>>)
      assert {:error, {:too_long, _}} = ETF.decode(<<131, 116, 255, 255, 255, 255>>)
      assert {:error, {:truncated, _}} = ETF.decode(<<131, 109, 0, 0, 0, 10, 1, 2>>)
      assert {:error, {:duplicate_key, _}} = ETF.decode(<<131, 116, 0, 0, 0, 2, 97, 1, 97, 1, 97, 1, 97, 2>>)
      assert {:error, {:bad_atom, _}} = ETF.decode(<<131, 119, 1, 255>>)
      assert {:error, {:truncated, 0}} = ETF.decode(<<>>)
      assert_raise ArgumentError, fn -> ETF.decode(:not_a_binary) end
    end

    test "NaN and infinities are refused" do
      for f <- [<<0x7FF8::16, 0::48>>, <<0x7FF0::16, 0::48>>, <<0xFFF0::16, 0::48>>] do
        assert {:error, {:not_finite, 1}} = ETF.decode(<<131, 70, f::binary>>)
      end
    end

    test "depth bombs are refused by the depth limit" do
      bomb = <<131, :binary.copy(<<104, 1>>, 100_000)::binary, 106>>
      assert {:error, {:too_deep, _}} = ETF.decode(bomb)
      list_bomb = <<131, :binary.copy(<<108, 0, 0, 0, 1>>, 100_000)::binary, 106, :binary.copy(<<106>>, 100_000)::binary>>
      assert {:error, {:too_deep, _}} = ETF.decode(list_bomb)
      assert {:error, {:too_deep, _}} = ETF.decode(:erlang.term_to_binary({{{{1}}}}), max_depth: 3)
    end

    test "zip bombs are refused before they are inflated" do
      packed = :erlang.term_to_binary(:binary.copy(<<0>>, 10_000_000), [:compressed])
      assert byte_size(packed) < 20_000
      assert {:error, {:decompressed_too_large, 2}} = ETF.decode(packed, max_decompressed: 1_000_000)
      <<131, 80, _size::32, z::binary>> = packed
      assert {:error, {:decompressed_too_large, 2}} = ETF.decode(<<131, 80, 0xFFFFFFFF::32, z::binary>>)
      assert {:error, {:bad_compression, _}} = ETF.decode(<<131, 80, 100::32, z::binary>>)
    end

    test "size limits" do
      bin = ETF.encode(%{"k" => :binary.copy("x", 100), "l" => Enum.to_list(1..100)})
      assert {:error, {:input_too_large, 0}} = ETF.decode(bin, max_size: 10)
      assert {:error, {:binary_too_large, _}} = ETF.decode(bin, max_binary: 50)
      assert {:error, {:too_long, _}} = ETF.decode(bin, max_length: 50)
      assert {:ok, _} = ETF.decode(bin, max_binary: 100, max_length: 100)
      assert_raise ArgumentError, ~r/max_depth/, fn -> ETF.decode(bin, max_depth: -1) end
    end

    test "random corruption of valid encodings never crashes and agrees with OTP" do
      seed = TermGen.seed()

      Enum.reduce(1..5_000, TermGen.new(seed), fn i, st ->
        {t, st} = TermGen.term(st, 3)
        bin = :erlang.term_to_binary(t)
        {pos, st} = TermGen.int(st, byte_size(bin))
        {byte, st} = TermGen.int(st, 256)
        <<pre::binary-size(pos), _, post::binary>> = bin
        bad = <<pre::binary, byte, post::binary>>
        where = "seed #{seed}, case #{i}: #{inspect(bad)}"

        case ETF.decode(bad, atoms: :create) do
          {:ok, ours} ->
            # When we accept, OTP accepts and agrees.
            assert {:ok, ours} === {:ok, :erlang.binary_to_term(bad)}, where

          {:error, {reason, offset}} ->
            assert is_atom(reason) and is_integer(offset), where
        end

        st
      end)
    end
  end

  describe "interoperation with Discord's erlpack (Python)" do
    @python Path.expand("../../.venv/bin/python", __DIR__)
    @peer Path.expand("../support/erlpack_peer.py", __DIR__)

    test "what erlpack packs decodes to the expected terms" do
      {out, 0} = System.cmd(@python, [@peer, "pack"])

      expected = %{
        "int_small" => 7,
        "int_neg" => -70_000,
        "int_u64" => 2 ** 64 - 1,
        "float" => 2.5,
        "none" => nil,
        "true" => true,
        "false" => false,
        "str" => "hello",
        "unicode" => "héllo 日本",
        "bytes" => <<255, 0>>,
        "list" => [1, "a", [2.5]],
        "tuple" => {1, 2},
        "empty_list" => [],
        "empty_dict" => %{},
        "atom" => :ok,
        "identify" => %{"op" => 2, "d" => %{"token" => "abc", "intents" => 513, "properties" => %{"os" => "linux"}}}
      }

      lines = String.split(out, "\n", trim: true)
      assert length(lines) == map_size(expected)

      for line <- lines do
        [name, hex] = String.split(line)
        assert ETF.decode(Base.decode16!(hex, case: :lower)) === {:ok, Map.fetch!(expected, name)}, name
      end
    end

    test "what we encode, erlpack unpacks to the expected values" do
      ours = %{
        "int_small" => 7,
        "int_neg" => -70_000,
        "int_i64" => 2 ** 63 - 1,
        "float" => -0.125,
        "nil" => nil,
        "true" => true,
        "false" => false,
        "binary" => "hello",
        "unicode" => "héllo 日本",
        "list" => [1, "a", [2.5]],
        "tuple" => {1, 2},
        "empty_list" => [],
        "empty_map" => %{},
        "atom" => :ok,
        "dispatch" => %{"op" => 0, "s" => 42, "t" => "MESSAGE_CREATE", "d" => %{"content" => "hi", "mentions" => [], "pinned" => false}}
      }

      input = Enum.map_join(ours, fn {name, t} -> "#{name} #{Base.encode16(ETF.encode(t), case: :lower)}\n" end)
      path = Path.join(System.tmp_dir!(), "erlpack_in_#{System.unique_integer([:positive])}")
      File.write!(path, input)
      {out, 0} = System.cmd("sh", ["-c", "#{@python} #{@peer} unpack < #{path}"])
      File.rm(path)
      results = out |> String.split("\n", trim: true) |> Map.new(&List.to_tuple(String.split(&1, " ", parts: 2)))
      assert map_size(results) == map_size(ours)
      for {name, result} <- results, do: assert(result == "ok", "#{name}: #{result}")
    end
  end
end
