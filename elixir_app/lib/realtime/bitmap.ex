defmodule Realtime.Bitmap do
  @moduledoc """
  A compressed set of slot numbers (`0..4_294_967_295`): sorted arrays where
  sparse, bitsets where dense, in the manner of Roaring bitmaps.

  The guild keeps one per permission view, one for online members and one
  for active sessions; the recipients of an event are one intersection.

  A bitmap is a mutable NIF resource, like an ETS table id: `put/2`,
  `delete/2` and the `*_in_place/2` functions change it and return it; the
  other set operations return a new bitmap. Any process may use it
  concurrently. Calls that would take long (large lists, large set
  operations) or wait for a lock run on a dirty scheduler.
  """

  require Realtime.Metrics, as: Metrics

  alias Realtime.Native

  @opaque t :: reference
  @type slot :: 0..4_294_967_295

  # Lists longer than this are built on a dirty scheduler.
  @dirty_list 5_000

  @doc "An empty bitmap."
  @spec new() :: t
  def new, do: Native.bitmap_new()

  @doc "A bitmap of `slots` (any order, repeats allowed)."
  @spec from_list([slot]) :: t
  def from_list(slots) when is_list(slots) do
    if length(slots) > @dirty_list,
      do: Native.bitmap_from_list_dirty(slots),
      else: Native.bitmap_from_list(slots)
  end

  @doc "Adds `slot`."
  @spec put(t, slot) :: t
  def put(bitmap, slot), do: call(:put, bitmap, slot, Native.bitmap_put(bitmap, slot))

  @doc "Removes `slot`."
  @spec delete(t, slot) :: t
  def delete(bitmap, slot), do: call(:delete, bitmap, slot, Native.bitmap_delete(bitmap, slot))

  @doc "Whether `slot` is a member."
  @spec member?(t, slot) :: boolean
  def member?(bitmap, slot), do: call(:member, bitmap, slot, Native.bitmap_member(bitmap, slot))

  @doc "The number of members."
  @spec size(t) :: non_neg_integer
  def size(bitmap), do: call(:size, bitmap, nil, Native.bitmap_size(bitmap))

  @doc "Members in ascending order."
  @spec to_list(t) :: [slot]
  def to_list(bitmap), do: call(:to_list, bitmap, nil, Native.bitmap_to_list(bitmap))

  @doc "The `n` smallest slots, ascending: the first `n` of `to_list/1` without building the rest."
  @spec take(t, non_neg_integer) :: [non_neg_integer]
  def take(bitmap, n) when is_integer(n) and n >= 0, do: call(:take, bitmap, n, Native.bitmap_take(bitmap, n))

  @doc "A new bitmap: `a ∪ b`."
  @spec union(t, t) :: t
  def union(a, b), do: combine(a, b, :union, false)

  @doc "A new bitmap: `a ∩ b`."
  @spec intersection(t, t) :: t
  def intersection(a, b), do: combine(a, b, :intersection, false)

  @doc "A new bitmap: `a \\\\ b`."
  @spec difference(t, t) :: t
  def difference(a, b), do: combine(a, b, :difference, false)

  @doc "`a := a ∪ b`; returns `a`."
  @spec union_in_place(t, t) :: t
  def union_in_place(a, b), do: combine(a, b, :union, true)

  @doc "`a := a ∩ b`; returns `a`."
  @spec intersection_in_place(t, t) :: t
  def intersection_in_place(a, b), do: combine(a, b, :intersection, true)

  @doc "`a := a \\\\ b`; returns `a`."
  @spec difference_in_place(t, t) :: t
  def difference_in_place(a, b), do: combine(a, b, :difference, true)

  @doc "`|a ∩ b|`, without building the intersection."
  @spec intersection_size(t, t) :: non_neg_integer
  def intersection_size(a, b), do: call(:intersection_size, a, b, Native.bitmap_intersection_size(a, b))

  @doc "An independent copy."
  @spec copy(t) :: t
  def copy(bitmap), do: call(:copy, bitmap, nil, Native.bitmap_copy(bitmap))

  @doc "A portable binary form, for shipping a bitmap to another node."
  @spec to_binary(t) :: binary
  def to_binary(bitmap), do: call(:to_binary, bitmap, nil, Native.bitmap_to_binary(bitmap))

  @doc """
  Reads `to_binary/1` output. Every invariant is checked, so untrusted bytes
  give `{:error, :invalid_bitmap}`, never a crash or a malformed bitmap.
  """
  @spec from_binary(binary) :: {:ok, t} | {:error, :invalid_bitmap}
  def from_binary(bin) when is_binary(bin), do: Native.bitmap_from_binary(bin)

  @doc "Bytes of NIF memory held by this bitmap."
  @spec memory(t) :: non_neg_integer
  def memory(bitmap), do: call(:memory, bitmap, nil, Native.bitmap_memory(bitmap))

  defp combine(a, b, op, in_place) do
    case Native.bitmap_combine(a, b, op, in_place) do
      :reschedule -> Metrics.inc(:dirty, "bitmap") && Native.bitmap_combine_dirty(a, b, op, in_place)
      result -> result
    end
  end

  defp call(op, bitmap, arg, :reschedule), do: Metrics.inc(:dirty, "bitmap") && Native.bitmap_dirty(op, bitmap, arg)
  defp call(_op, _bitmap, _arg, result), do: result
end
