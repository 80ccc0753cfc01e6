package netns

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// A node's queue rule lives in a table of its own, ip honua_delay, apart
// from the drop rules of inet honua_chaos (which apply rewrites whole): an
// output chain that sends what the node sends on the peer network to its
// nfqueue, with bypass, so that a packet passes when no reader listens.
// The nft command writes a queue rule only with the kernel's nft_queue
// expression (CONFIG_NFT_QUEUE), which some kernels lack while they have
// xtables' NFQUEUE target through nft_compat (this one does), which no nft
// command writes; so the rule is written here, over netlink, with the
// queue expression where the kernel has it and the NFQUEUE target where
// not.

// delayTable is the table of the queue rule, in family ip.
const delayTable = "honua_delay"

// nf_tables (linux/netfilter/nf_tables.h, nf_tables_compat.h).
const (
	nfnlSubsysNFTables = 10   // NFNL_SUBSYS_NFTABLES
	nfnlMsgBatchBegin  = 0x10 // NFNL_MSG_BATCH_BEGIN
	nfnlMsgBatchEnd    = 0x11 // NFNL_MSG_BATCH_END

	nftMsgNewTable = 0
	nftMsgDelTable = 2
	nftMsgNewChain = 3
	nftMsgNewRule  = 6
	nftMsgDelRule  = 8

	nftaTableName = 1

	nftaChainTable  = 1
	nftaChainName   = 3
	nftaChainHook   = 4
	nftaChainPolicy = 5
	nftaChainType   = 7
	nftaHookHooknum = 1
	nftaHookPrio    = 2

	nftaRuleTable       = 1
	nftaRuleChain       = 2
	nftaRuleExpressions = 4
	nftaListElem        = 1
	nftaExprName        = 1
	nftaExprData        = 2

	nftaMetaDreg     = 1
	nftaMetaKey      = 2
	nftMetaOifname   = 7
	nftaCmpSreg      = 1
	nftaCmpOp        = 2
	nftaCmpData      = 3
	nftCmpEq         = 0
	nftaDataValue    = 1
	nftaPayloadDreg  = 1
	nftaPayloadBase  = 2
	nftaPayloadOff   = 3
	nftaPayloadLen   = 4
	nftPayloadNetHdr = 1
	nftReg1          = 1

	nftaQueueNum       = 1
	nftaQueueTotal     = 2
	nftaQueueFlags     = 3
	nftQueueFlagBypass = 0x1

	nftaTargetName    = 1
	nftaTargetRev     = 2
	nftaTargetInfo    = 3
	nfqueueTargetName = "NFQUEUE"
	xtNFQueueRev      = 3   // struct xt_NFQ_info_v3 {queuenum, queues_total, flags}
	xtNFQueueInfoLen  = 8   // XT_ALIGN(sizeof(struct xt_NFQ_info_v3))
	nfqFlagBypass     = 0x1 // NFQ_FLAG_BYPASS

	nftMsgType     = nfnlSubsysNFTables << 8
	nfprotoIPv4    = unix.AF_INET
	nfInetLocalOut = 3 // NF_INET_LOCAL_OUT
	nlmFCreate     = unix.NLM_F_CREATE
	nlmFAppend     = unix.NLM_F_APPEND
)

// The delay table's chain and what its rule matches.
const (
	delayChainName     = "output"
	delayChainType     = "filter"
	delayChainPriority = 0  // priority filter
	ifNameSize         = 16 // IFNAMSIZ: meta oifname loads the name padded with zeros
	peerPrefixLen      = 3  // bytes of 10.77.0.0/24, from offset 16 of the IPv4 header
)

// queueExpr is how a rule sends packets to a queue.
type queueExpr int

const (
	exprQueue  queueExpr = iota + 1 // nft_queue: queue num N bypass
	exprTarget                      // xtables NFQUEUE through nft_compat
)

func (e queueExpr) String() string {
	switch e {
	case exprQueue:
		return "nft queue"
	case exprTarget:
		return "xt NFQUEUE via nft_compat"
	}
	return "unknown"
}

// queueRuleBatch is the transaction that makes the delay table anew,
// whatever was there: an output chain holding the rule
//
//	oifname "peer0" ip daddr 10.77.0.0/24 queue num <num> bypass
//
// with the queue expression expr.
func queueRuleBatch(num uint16, expr queueExpr) []byte {
	var b []byte
	add := func(m *nlmsg) { b = append(b, m.bytes()...) }
	add(newNfMsg(nfnlMsgBatchBegin, nlmFRequest, 0, unix.AF_UNSPEC, nfnlSubsysNFTables))
	// Declaring the table first makes deleting it safe.
	m := newNfMsg(nftMsgType|nftMsgNewTable, nlmFRequest|nlmFCreate|nlmFAck, 1, nfprotoIPv4, 0)
	m.str(nftaTableName, delayTable)
	add(m)
	m = newNfMsg(nftMsgType|nftMsgDelTable, nlmFRequest|nlmFAck, 2, nfprotoIPv4, 0)
	m.str(nftaTableName, delayTable)
	add(m)
	m = newNfMsg(nftMsgType|nftMsgNewTable, nlmFRequest|nlmFCreate|nlmFAck, 3, nfprotoIPv4, 0)
	m.str(nftaTableName, delayTable)
	add(m)
	m = newNfMsg(nftMsgType|nftMsgNewChain, nlmFRequest|nlmFCreate|nlmFAck, 4, nfprotoIPv4, 0)
	m.str(nftaChainTable, delayTable)
	m.str(nftaChainName, delayChainName)
	m.nest(nftaChainHook, func() {
		m.be32(nftaHookHooknum, nfInetLocalOut)
		m.be32(nftaHookPrio, delayChainPriority)
	})
	m.be32(nftaChainPolicy, nfAccept)
	m.str(nftaChainType, delayChainType)
	add(m)
	m = newNfMsg(nftMsgType|nftMsgNewRule, nlmFRequest|nlmFCreate|nlmFAppend|nlmFAck, 5, nfprotoIPv4, 0)
	m.str(nftaRuleTable, delayTable)
	m.str(nftaRuleChain, delayChainName)
	m.nest(nftaRuleExpressions, func() {
		expression := func(name string, data func()) {
			m.nest(nftaListElem, func() {
				m.str(nftaExprName, name)
				m.nest(nftaExprData, data)
			})
		}
		cmp := func(value []byte) {
			expression("cmp", func() {
				m.be32(nftaCmpSreg, nftReg1)
				m.be32(nftaCmpOp, nftCmpEq)
				m.nest(nftaCmpData, func() { m.attr(nftaDataValue, value) })
			})
		}
		// oifname "peer0"
		expression("meta", func() {
			m.be32(nftaMetaDreg, nftReg1)
			m.be32(nftaMetaKey, nftMetaOifname)
		})
		name := make([]byte, ifNameSize)
		copy(name, peerIf)
		cmp(name)
		// ip daddr 10.77.0.0/24: the first three bytes of the destination
		expression("payload", func() {
			m.be32(nftaPayloadDreg, nftReg1)
			m.be32(nftaPayloadBase, nftPayloadNetHdr)
			m.be32(nftaPayloadOff, 16)
			m.be32(nftaPayloadLen, peerPrefixLen)
		})
		cmp([]byte{10, 77, 0})
		switch expr {
		case exprQueue:
			expression("queue", func() {
				m.be16(nftaQueueNum, num)
				m.be16(nftaQueueTotal, 1)
				m.be16(nftaQueueFlags, nftQueueFlagBypass)
			})
		case exprTarget:
			expression("target", func() {
				m.str(nftaTargetName, nfqueueTargetName)
				m.be32(nftaTargetRev, xtNFQueueRev)
				// xtables structs are in host order
				info := make([]byte, xtNFQueueInfoLen)
				ne.PutUint16(info[0:], num)
				ne.PutUint16(info[2:], 1)
				ne.PutUint16(info[4:], nfqFlagBypass)
				m.attr(nftaTargetInfo, info)
			})
		}
	})
	add(m)
	add(newNfMsg(nfnlMsgBatchEnd, nlmFRequest, 0, unix.AF_UNSPEC, nfnlSubsysNFTables))
	return b
}

// flushRuleBatch is the transaction that deletes the rule of the delay
// table's chain, and leaves the chain: its hook stays, and so do the
// packets queued from it. (Unregistering a hook, as deleting the table
// does, makes the kernel drop every packet queued in the namespace.)
func flushRuleBatch() []byte {
	var b []byte
	add := func(m *nlmsg) { b = append(b, m.bytes()...) }
	add(newNfMsg(nfnlMsgBatchBegin, nlmFRequest, 0, unix.AF_UNSPEC, nfnlSubsysNFTables))
	m := newNfMsg(nftMsgType|nftMsgDelRule, nlmFRequest|nlmFAck, 1, nfprotoIPv4, 0)
	m.str(nftaRuleTable, delayTable)
	m.str(nftaRuleChain, delayChainName)
	add(m)
	add(newNfMsg(nfnlMsgBatchEnd, nlmFRequest, 0, unix.AF_UNSPEC, nfnlSubsysNFTables))
	return b
}

// deleteTableBatch is the transaction that deletes the delay table, if
// there is one.
func deleteTableBatch() []byte {
	var b []byte
	add := func(m *nlmsg) { b = append(b, m.bytes()...) }
	add(newNfMsg(nfnlMsgBatchBegin, nlmFRequest, 0, unix.AF_UNSPEC, nfnlSubsysNFTables))
	for seq, typ := range []uint16{nftMsgNewTable, nftMsgDelTable} {
		flags := uint16(nlmFRequest | nlmFAck)
		if typ == nftMsgNewTable {
			flags |= nlmFCreate
		}
		m := newNfMsg(nftMsgType|typ, flags, uint32(seq+1), nfprotoIPv4, 0)
		m.str(nftaTableName, delayTable)
		add(m)
	}
	add(newNfMsg(nfnlMsgBatchEnd, nlmFRequest, 0, unix.AF_UNSPEC, nfnlSubsysNFTables))
	return b
}

// nftIn runs an nf_tables transaction in namespace ns that asks for acks
// acknowledgements.
func nftIn(ns string, batch []byte, acks int) error {
	fd, err := socketIn(ns)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return exchange(fd, batch, acks)
}

// addQueueRule makes node namespace ns's delay table: with expr if given,
// else with the queue expression, or the NFQUEUE target where the kernel
// has no queue expression. It returns the expression that worked.
func addQueueRule(ns string, num uint16, expr queueExpr) (queueExpr, error) {
	try := []queueExpr{exprQueue, exprTarget}
	if expr != 0 {
		try = []queueExpr{expr}
	}
	var errs []error
	for _, e := range try {
		err := nftIn(ns, queueRuleBatch(num, e), 5)
		if err == nil {
			return e, nil
		}
		errs = append(errs, fmt.Errorf("%v: %w", e, err))
		// ENOENT: the kernel has no such expression (or target).
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EOPNOTSUPP) {
			return 0, fmt.Errorf("add the queue rule in %s: %w", ns, errors.Join(errs...))
		}
	}
	return 0, fmt.Errorf("%w: add the queue rule in %s: %w", errNoQueue, ns, errors.Join(errs...))
}

// flushQueueRule deletes node namespace ns's queue rule: no packet is
// queued afterwards, and those queued stay.
func flushQueueRule(ns string) error {
	if err := nftIn(ns, flushRuleBatch(), 1); err != nil {
		return fmt.Errorf("flush chain ip %s %s in %s: %w", delayTable, delayChainName, ns, err)
	}
	return nil
}

// deleteQueueRule deletes node namespace ns's delay table. Flush its rule
// and stop its reader first, or the packets it holds are dropped.
func deleteQueueRule(ns string) error {
	if err := nftIn(ns, deleteTableBatch(), 2); err != nil {
		return fmt.Errorf("delete table ip %s in %s: %w", delayTable, ns, err)
	}
	return nil
}
