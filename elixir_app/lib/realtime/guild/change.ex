defmodule Realtime.Guild.Change do
  @moduledoc """
  A mutation of a guild that its rules have accepted but that has not
  happened yet: the store ops to write, and what to do once they are
  written (`apply`: change the state, dispatch the events, and give the
  caller its answer). `Realtime.Guild.commit/3` writes, then applies: the one
  place where a change becomes acknowledged. A write that fails applies
  nothing and dispatches nothing.

  `order` says what the guild may do while the write is in flight:

    * `:pipelined` - go on validating later requests (messages and
      reactions: they do not change what anyone may do, and one guild's
      writes are committed in order, so they are applied in order);
    * `:barrier` - nothing else until it is applied (channels, roles and
      members change permissions and views, which later requests depend on).
  """

  defstruct writes: [], apply: nil, order: :barrier

  @type t :: %__MODULE__{
          writes: [Realtime.Store.op()],
          apply: (Realtime.Guild.State.t() -> {term, Realtime.Guild.State.t()}),
          order: :pipelined | :barrier
        }

  @doc "A change that writes `writes`, then runs `apply`."
  @spec new([Realtime.Store.op()], (Realtime.Guild.State.t() -> {term, Realtime.Guild.State.t()}), :pipelined | :barrier) :: t
  def new(writes, apply, order \\ :barrier), do: %__MODULE__{writes: writes, apply: apply, order: order}
end
