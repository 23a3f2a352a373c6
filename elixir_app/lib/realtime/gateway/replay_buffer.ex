defmodule Realtime.Gateway.ReplayBuffer do
  @moduledoc """
  The dispatches a session sent, kept so that a resumed connection gets
  exactly the ones it missed. Bounded by count: once full, the oldest are
  dropped, and a resume from before them is refused (Invalid Session).
  """

  defstruct queue: :queue.new(), size: 0, max: 1000, dropped_through: 0

  @type entry :: {pos_integer, String.t(), term}
  @type t :: %__MODULE__{}

  @doc "An empty buffer keeping at most `max` entries."
  @spec new(pos_integer) :: t
  def new(max), do: %__MODULE__{max: max}

  @doc "Appends the dispatch numbered `seq`."
  @spec push(t, pos_integer, String.t(), term) :: t
  def push(%{size: size, max: max} = b, seq, t, payload) when size >= max do
    {{:value, {dropped, _, _}}, q} = :queue.out(b.queue)
    push(%{b | queue: q, size: size - 1, dropped_through: dropped}, seq, t, payload)
  end

  def push(b, seq, t, payload), do: %{b | queue: :queue.in({seq, t, payload}, b.queue), size: b.size + 1}

  @doc """
  The entries after `seq`, oldest first; `:error` if some were dropped, or if
  `seq` is ahead of the last one sent.
  """
  @spec since(t, non_neg_integer, non_neg_integer) :: {:ok, [entry]} | :error
  def since(b, seq, last_sent) when seq >= b.dropped_through and seq <= last_sent,
    do: {:ok, b.queue |> :queue.to_list() |> Enum.drop_while(fn {s, _, _} -> s <= seq end)}

  def since(_b, _seq, _last_sent), do: :error
end
