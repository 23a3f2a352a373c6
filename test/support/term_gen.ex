defmodule Realtime.Test.TermGen do
  @moduledoc """
  A small seeded generator of random Erlang data terms (StreamData is a hex
  package and unavailable here).

  Every generator takes and returns the `:rand` state explicitly, so a run is
  reproduced from its seed alone. `seed/0` reads `SEED` from the environment
  or picks one; tests print it in every failure message.
  """

  @type state :: :rand.state()

  @doc "The seed for this run: `SEED` from the environment, or a fresh one."
  @spec seed() :: integer
  def seed do
    case System.get_env("SEED") do
      nil -> :erlang.unique_integer([:positive]) + System.os_time()
      s -> String.to_integer(s)
    end
  end

  @doc "A `:rand` state for `seed`."
  @spec new(integer) :: state
  def new(seed), do: :rand.seed_s(:exsss, seed)

  @doc "A uniform integer in `0..n-1`."
  @spec int(state, pos_integer) :: {non_neg_integer, state}
  def int(st, n) do
    {x, st} = :rand.uniform_s(n, st)
    {x - 1, st}
  end

  @doc "One of `choices`."
  @spec pick(state, [a]) :: {a, state} when a: var
  def pick(st, choices) do
    {i, st} = int(st, length(choices))
    {Enum.at(choices, i), st}
  end

  @doc """
  A random data term: numbers (small, big, floats, ints equal to floats),
  atoms (including non-Latin-1), binaries (invalid UTF-8 included),
  bitstrings, tuples, proper and improper lists, and maps, nested up to
  `depth` levels.
  """
  @spec term(state, non_neg_integer) :: {term, state}
  def term(st, depth \\ 3) do
    {kind, st} = int(st, if(depth == 0, do: 6, else: 10))
    term(kind, st, depth)
  end

  defp term(0, st, _), do: small_int(st)

  defp term(1, st, _) do
    {e, st} = int(st, 200)
    {sign, st} = pick(st, [1, -1])
    {x, st} = int(st, 1000)
    {sign * (Integer.pow(2, e) + x), st}
  end

  defp term(2, st, _) do
    {which, st} = int(st, 3)

    case which do
      0 ->
        {x, st} = small_int(st)
        {x * 1.0, st}

      1 ->
        {x, st} = :rand.normal_s(st)
        {e, st} = int(st, 40)
        {x * :math.pow(10, e - 20), st}

      2 ->
        pick(st, [0.0, -0.0, 5.0e-324, 1.0e300, -1.5, 0.5])
    end
  end

  defp term(3, st, _), do: pick(st, [:a, :b, :ok, :error, nil, true, :é, :"日本", :"", :zz, :"a\0b"])

  defp term(4, st, _) do
    {len, st} = int(st, 6)

    Enum.reduce(1..len//1, {<<>>, st}, fn _, {acc, st} ->
      {b, st} = pick(st, [0, 1, 97, 98, 0x80, 0xC3, 0xFF])
      {acc <> <<b>>, st}
    end)
  end

  defp term(5, st, _) do
    {bin, st} = term(4, st, 0)
    {bits, st} = int(st, 8)
    {v, st} = int(st, 256)
    {<<bin::binary, v::size(bits)>>, st}
  end

  defp term(kind, st, depth) when kind in [6, 7] do
    {items, st} = list_of(st, depth)
    {tuple?, st} = pick(st, [true, false])
    if tuple?, do: {List.to_tuple(items), st}, else: {items, st}
  end

  defp term(8, st, depth) do
    {items, st} = list_of(st, depth)
    {tail, st} = term(st, 0)

    case {items, tail} do
      {[], _} -> {[], st}
      {_, tail} when is_list(tail) -> {items, st}
      _ -> {items ++ tail, st}
    end
  end

  defp term(9, st, depth) do
    {keys, st} = list_of(st, depth)
    {values, st} = list_of(st, depth)
    {Map.new(Enum.zip(keys, values)), st}
  end

  defp small_int(st) do
    {x, st} = int(st, 2001)
    {x - 1000, st}
  end

  defp list_of(st, depth) do
    {n, st} = int(st, 4)

    Enum.reduce(1..n//1, {[], st}, fn _, {acc, st} ->
      {t, st} = term(st, depth - 1)
      {[t | acc], st}
    end)
  end
end
