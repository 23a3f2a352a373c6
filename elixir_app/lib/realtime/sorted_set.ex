defmodule Realtime.SortedSet do
  @moduledoc """
  A mutable sorted set of Erlang terms, a drop-in for Discord's
  `Discord.SortedSet` (same names, arities and return shapes).

  The set is a NIF resource: treat it like an ETS table id. Any process may
  use it, concurrently; calls wait for one another and never fail with
  `:lock_fail`.

  ## Terms and order

  Members are ordered exactly as Erlang orders terms (`Enum.sort/1`), and
  equality is `==`, so `1` and `1.0` are the same member (the first one
  added stays). Supported: all numbers (bignums and floats), atoms, binaries
  and bitstrings (any bytes), tuples, proper and improper lists, and maps,
  nested up to 100 levels (deeper terms would risk the scheduler thread's
  stack). Pids, references, ports and funs are refused
  with `{:error, :unsupported_type}`, because their order cannot be
  reproduced outside the VM; deeper nesting gives `{:error, :too_deep}`.

  ## Complexity and scheduling

  The set is a counted B+tree: `add`, `remove`, their `index_` forms,
  `find_index`, `at` and the start of `slice` are O(log n); `size/1` is O(1)
  and takes no lock. Calls on normal schedulers are bounded to a fraction of
  a millisecond; large inputs and outputs (for example `to_list/1` of a
  million items) and waits for a busy set move to a dirty scheduler.
  """

  require Realtime.Metrics, as: Metrics

  alias Realtime.Native

  @opaque t :: reference
  @type common_errors :: {:error, :unsupported_type | :too_deep}

  @default_capacity 500
  @default_bucket_size 500
  # Outputs longer than this go straight to a dirty scheduler.
  @dirty_items 2_000

  @doc """
  Creates an empty set. Both arguments are hints: `capacity` is accepted for
  compatibility, `bucket_size` bounds the items per leaf (clamped to 16..128).

  Raises `ArgumentError` unless both are positive integers.
  """
  @spec new(pos_integer, pos_integer) :: t
  def new(capacity \\ @default_capacity, bucket_size \\ @default_bucket_size)

  def new(capacity, bucket_size)
      when is_integer(capacity) and capacity >= 0 and is_integer(bucket_size) and bucket_size > 0,
      do: Native.sorted_set_new(bucket_size)

  def new(capacity, bucket_size) do
    raise ArgumentError,
          "capacity must be a non-negative integer and bucket_size a positive integer, " <>
            "got: #{inspect(capacity)}, #{inspect(bucket_size)}"
  end

  @doc """
  Builds a set from any enumerable: it is sorted and deduplicated (of equal
  terms, the first wins).
  """
  @spec from_enumerable(Enumerable.t(), pos_integer) :: t | common_errors
  def from_enumerable(terms, bucket_size \\ @default_bucket_size) do
    check_bucket!(bucket_size)
    Native.sorted_set_from_list(Enum.to_list(terms), bucket_size, false)
  end

  @doc """
  Builds a set from an enumerable that is already sorted and unique. Unlike
  Discord's, the input is verified: otherwise `{:error, :not_sorted}`.
  """
  @spec from_proper_enumerable(Enumerable.t(), pos_integer) :: t | {:error, :not_sorted} | common_errors
  def from_proper_enumerable(terms, bucket_size \\ @default_bucket_size) do
    check_bucket!(bucket_size)
    Native.sorted_set_from_list(Enum.to_list(terms), bucket_size, true)
  end

  @doc "Adds `term`; a no-op if an equal term is present."
  @spec add(t, any) :: t | common_errors
  def add(set, term) do
    case index_add(set, term) do
      {_, ^set} -> set
      error -> error
    end
  end

  @doc """
  Adds `term` and returns the index it was inserted at, or `nil` when an
  equal term was already present.
  """
  @spec index_add(t, any) :: {non_neg_integer | nil, t} | common_errors
  def index_add(set, term) do
    case call(set, :add, term, nil, Native.sorted_set_add(set, term)) do
      {:error, _} = error -> error
      index -> {index, set}
    end
  end

  @doc "Removes `term`; a no-op when absent."
  @spec remove(t, any) :: t
  def remove(set, term) do
    {_, set} = index_remove(set, term)
    set
  end

  @doc "Removes `term` and returns the index it had, or `nil` when absent."
  @spec index_remove(t, any) :: {non_neg_integer | nil, t}
  def index_remove(set, term) do
    {call(set, :remove, term, nil, Native.sorted_set_remove(set, term)), set}
  end

  @doc "The number of members, in O(1)."
  @spec size(t) :: non_neg_integer
  def size(set), do: Native.sorted_set_size(set)

  @doc "All members, in order."
  @spec to_list(t) :: [any]
  def to_list(set), do: slice(set, 0, size(set))

  @doc """
  The member at `index`, or `default` when `index` is out of range
  (negative and huge integers included).
  """
  @spec at(t, integer, any) :: any
  def at(set, index, default \\ nil)

  def at(set, index, default) when is_integer(index) and index >= 0 and index < 0x1_0000_0000_0000_0000 do
    case call(set, :at, index, nil, Native.sorted_set_at(set, index)) do
      {:ok, term} -> term
      :error -> default
    end
  end

  def at(_set, index, default) when is_integer(index), do: default

  @doc """
  The members at each of `indices`, `default` for those out of range: one
  call, under one lock, for callers that need several positions at once
  (the member list reads the first and last rows of every window). Not in
  Discord's API.

  Raises `ArgumentError` unless `indices` is a list of integers.
  """
  @spec at_many(t, [integer], any) :: [any]
  def at_many(set, indices, default \\ nil) when is_list(indices) do
    unless Enum.all?(indices, &is_integer/1), do: raise(ArgumentError, "indices must be integers, got: #{inspect(indices)}")

    set
    |> call(:at_many, indices, nil, Native.sorted_set_at_many(set, indices))
    |> Enum.map(fn
      {:ok, term} -> term
      :error -> default
    end)
  end

  @doc """
  Up to `amount` members from index `start`. Out-of-range and huge values
  are clamped, so the result is `[]` rather than an exception.
  """
  @spec slice(t, integer, integer) :: [any]
  def slice(set, start, amount) when is_integer(start) and is_integer(amount) do
    size = size(set)
    start = start |> max(0) |> min(size)
    amount = amount |> max(0) |> min(size - start)

    cond do
      amount == 0 -> []
      amount > @dirty_items -> Native.sorted_set_dirty(set, :slice, start, amount)
      true -> call(set, :slice, start, amount, Native.sorted_set_slice(set, start, amount))
    end
  end

  @doc "The index of `term`, or `nil` when absent."
  @spec find_index(t, any) :: non_neg_integer | nil
  def find_index(set, term), do: call(set, :find_index, term, nil, Native.sorted_set_find_index(set, term))

  @doc "Bytes held by this set's own structures (NIF memory)."
  @spec memory(t) :: non_neg_integer
  def memory(set), do: Native.sorted_set_memory(set)

  @doc "A description of the set's internal shape."
  @spec debug(t) :: String.t()
  def debug(set), do: Native.sorted_set_debug(set)

  defp call(set, op, a, b, :reschedule), do: Metrics.inc(:dirty, "sorted_set") && Native.sorted_set_dirty(set, op, a, b)
  defp call(_set, _op, _a, _b, result), do: result

  defp check_bucket!(bucket_size) when is_integer(bucket_size) and bucket_size > 0, do: :ok

  defp check_bucket!(bucket_size),
    do: raise(ArgumentError, "bucket_size must be a positive integer, got: #{inspect(bucket_size)}")
end
