package state

import (
	"fmt"
	"math"

	"github.com/waterchain/waterchain/chain"
)

// settleClosedPeriods runs at the start of a tx block, in two steps.
//
// Closing: every period that ended at or before the block's time and is
// still open is closed, in order: its open offers expire, each industry's
// allowance figures and the limits of its permit for the period are kept
// in a closed-period record, and the next period opens (pending permits
// take effect, allowances reset).
//
// Settling: every closed period p, in order, whose readings are all in —
// the data block the tx block anchors is timed at End(p) + ReadingWindow
// or later, so no data block after it may hold a reading timed in p — is
// measured from the readings up to that anchor and rewarded.
func (v *TxView) settleClosedPeriods(src ReadingSource) error {
	cur := v.periods.Index(v.time)
	for v.meta.Period < cur {
		p := v.meta.Period
		if err := v.expireOffers(p); err != nil {
			return err
		}
		if err := v.closePeriod(p); err != nil {
			return err
		}
		v.meta.Period = p + 1
		v.meta.Unsettled++
	}
	if v.meta.Unsettled == 0 {
		return nil
	}
	if src == nil {
		return fmt.Errorf("%w: tx block %d has period %s to settle but no reading source was given", ErrBadBlock, v.height, v.periods.Label(v.meta.FirstUnsettled()))
	}
	dataTime := v.g.GenesisTime
	if v.anchor > 0 {
		t, err := src.DataBlockTime(v.anchor)
		if err != nil {
			return fmt.Errorf("tx block %d: time of its anchor data block %d: %w", v.height, v.anchor, err)
		}
		dataTime = t
	}
	window := chain.Time(v.g.Params.ReadingWindow.Std().Milliseconds())
	for v.meta.Unsettled > 0 {
		p := v.meta.FirstUnsettled()
		if dataTime < v.periods.End(p)+window {
			break // a reading of p may still arrive in a later data block
		}
		if err := v.settlePeriod(src, p, dataTime); err != nil {
			return err
		}
		v.meta.Unsettled--
	}
	return nil
}

func (v *TxView) expireOffers(p int64) error {
	var expired []Offer
	err := v.ov.Iterate([]byte(pfxOffer), func(key, value []byte) error {
		var o Offer
		if err := decodeRecord(value, &o); err != nil {
			return err
		}
		if o.Status == OfferOpen && o.Period <= p {
			expired = append(expired, o)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i := range expired {
		o := &expired[i]
		seller, found, err := loadIndustry(v.ov, o.Seller)
		if err != nil {
			return err
		}
		if !found || seller.Escrow < o.Remaining {
			return fmt.Errorf("%w: offer %s: seller %s does not hold its %d L in escrow", ErrCorruptState, shortHash(o.ID), short(o.Seller), o.Remaining)
		}
		seller.Escrow -= o.Remaining
		putRecord(v.ov, industryKey(o.Seller), seller)
		o.Status, o.ClosedHeight = OfferExpired, v.height
		putRecord(v.ov, offerKey(o.ID), o)
	}
	return nil
}

type industryEntry struct {
	addr chain.Address
	ind  Industry
}

func (v *TxView) industries() ([]industryEntry, error) {
	var out []industryEntry
	err := v.ov.Iterate([]byte(pfxIndustry), func(key, value []byte) error {
		var e industryEntry
		if len(key) != len(pfxIndustry)+len(e.addr) {
			return fmt.Errorf("%w: industry key %q", ErrCorruptState, key)
		}
		copy(e.addr[:], key[len(pfxIndustry):])
		if err := decodeRecord(value, &e.ind); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// closePeriod keeps each industry's figures of period p as the tx lane
// knows them (allowance, trades, the limits of its permit) in a
// closed-period record for settlement, and opens period p+1: pending
// permits take effect and each industry's allowance is its permit's.
func (v *TxView) closePeriod(p int64) error {
	list, err := v.industries()
	if err != nil {
		return err
	}
	for _, e := range list {
		ind := e.ind
		if ind.Escrow != 0 {
			return fmt.Errorf("%w: industry %q still holds %d L in escrow at the end of its period", ErrCorruptState, ind.Name, ind.Escrow)
		}
		closed := &Settlement{
			Period: p, Label: v.periods.Label(p), Industry: e.addr, Name: ind.Name, ClosedHeight: v.height,
			Allowance: ind.Allowance, Bought: ind.Bought, Sold: ind.Sold, AllowanceAfterTrades: ind.AfterTrades(),
		}
		for _, m := range chain.QualityMeasures {
			if l := ind.Permit.Limits.Limit(m); l > 0 {
				closed.Compliance = append(closed.Compliance, MeasureCompliance{Measure: m, Limit: l})
			}
		}
		putRecord(v.ov, closedKey(p, e.addr), closed)

		q := p + 1
		if ind.NextPermit != nil {
			ind.Permit = *ind.NextPermit
			ind.NextPermit = nil
			putPermitVersion(v.ov, e.addr, v.height, q, ind.Permit)
		}
		ind.Period = q
		ind.Allowance = ind.Permit.Allowance
		ind.Bought, ind.Sold = 0, 0
		putRecord(v.ov, industryKey(e.addr), &ind)
	}
	return nil
}

// settlePeriod settles closed period p: each industry's closed-period
// record is completed from the readings up to the block's anchor (timed
// dataTime), its reward minted and the record moved to the settlements.
func (v *TxView) settlePeriod(src ReadingSource, p int64, dataTime chain.Time) error {
	byOwner := make(map[chain.Address][]Device)
	err := v.ov.Iterate([]byte(pfxDevice), func(key, value []byte) error {
		var d Device
		if err := decodeRecord(value, &d); err != nil {
			return err
		}
		byOwner[d.Owner] = append(byOwner[d.Owner], d)
		return nil
	})
	if err != nil {
		return err
	}
	closed, err := recordsUnder[Settlement](v.ov, closedPrefix(p))
	if err != nil {
		return err
	}
	for i := range closed {
		s := &closed[i]
		if s.Period != p {
			return fmt.Errorf("%w: closed-period record of %q is for period %d, stored under %d", ErrCorruptState, s.Name, s.Period, p)
		}
		s.Height, s.DataHeight, s.DataTime = v.height, v.anchor, dataTime
		if err := v.measure(src, s, byOwner[s.Industry]); err != nil {
			return err
		}
		computeReward(&v.g.Params.Reward, s)
		supply := v.meta.GenesisSupply + v.meta.Minted // TxMeta.check bounds it
		if room := math.MaxUint64 - supply; s.Reward > room {
			s.Reasons = append(s.Reasons, fmt.Sprintf("reward cut from %s to %s: the drop supply is at its 64-bit limit", FormatDrops(s.Reward), FormatDrops(room)))
			s.Reward = room
		}
		if s.Reward > 0 {
			acct, err := loadAccount(v.ov, s.Industry)
			if err != nil {
				return err
			}
			if acct.Balance, err = add(acct.Balance, s.Reward, "balance"); err != nil {
				return fmt.Errorf("%w: %v", ErrCorruptState, err) // balances are bounded by the supply
			}
			putRecord(v.ov, accountKey(s.Industry), &acct)
			v.meta.Minted += s.Reward
		}
		v.ov.del(closedKey(p, s.Industry))
		putRecord(v.ov, settlementKey(p, s.Industry), s)
	}
	return nil
}

// measure fills in s, a closed-period record, the figures of the data
// chain up to the block's anchor: for each meter of the industry, its
// active time in the period, the readings expected and delivered, the
// volume; for each limited measure, the readings within its limit.
func (v *TxView) measure(src ReadingSource, s *Settlement, devices []Device) error {
	start, end := v.periods.Start(s.Period), v.periods.End(s.Period)
	interval := uint64(v.g.Params.ReadingInterval.Std().Milliseconds()) // Validate: ≥ 1
	limited := s.Compliance
	for _, d := range devices {
		m := MeterFigures{Device: d.Key, From: max(start, d.RegisteredTime), To: end}
		if d.Revoked() && d.RevokedTime < m.To {
			m.To = d.RevokedTime
		}
		if m.To > m.From {
			s.Devices++
			m.Expected = uint64(m.To-m.From) / interval
		} else {
			m.From, m.To = 0, 0 // not active in the period
		}
		err := src.ReadingsUpTo(d.Key, start, end, v.anchor, func(rd *chain.Reading) error {
			if rd.Device != d.Key || rd.Time < start || rd.Time >= end {
				return nil // not asked for: ignore rather than trust
			}
			m.Readings++
			if rd.Volume > 0 {
				m.UsedML = satAdd(m.UsedML, uint64(rd.Volume))
			}
			for i := range limited {
				val, _ := rd.MeasureValue(limited[i].Measure)
				limited[i].Readings++
				if val <= limited[i].Limit {
					limited[i].Within++
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("settling %s: readings of device %s: %w", s.Label, shortKey(d.Key), err)
		}
		if m.Expected == 0 && m.Readings == 0 {
			continue // neither active in the period nor heard from in it
		}
		m.Delivered = min(m.Readings, m.Expected)
		s.Readings += m.Readings
		s.Expected += m.Expected
		s.Delivered += m.Delivered
		s.UsedML = satAdd(s.UsedML, m.UsedML)
		s.Meters = append(s.Meters, m)
	}
	for i := range limited {
		limited[i].Permille = permille(limited[i].Within, limited[i].Readings)
	}
	return nil
}

// computeReward applies the reward rules to the measured figures of s and
// writes the outcome and its reasons. The formula is documented in doc.go.
func computeReward(rr *chain.RewardRules, s *Settlement) {
	s.DeliveryPermille = permille(s.Delivered, s.Expected)
	s.UnderDelivered = s.DeliveryPermille < 1000
	if s.Expected == 0 {
		s.Reasons = append(s.Reasons, "no readings were expected: no device was active in the period")
	} else {
		s.Reasons = append(s.Reasons, fmt.Sprintf("delivered %d of %d expected readings (%d‰)", s.Delivered, s.Expected, s.DeliveryPermille))
	}

	// Compliance: the worst measure counts.
	s.CompliancePermille = 1000
	worst := ""
	if s.Readings == 0 {
		s.CompliancePermille = 0
		s.Reasons = append(s.Reasons, "no readings: compliance with discharge limits cannot be shown")
	}
	for _, m := range s.Compliance {
		if s.Readings == 0 {
			break
		}
		if m.Permille < s.CompliancePermille {
			s.CompliancePermille, worst = m.Permille, m.Measure
		}
		if m.Within < m.Readings {
			s.LimitsBroken = true
			s.Reasons = append(s.Reasons, fmt.Sprintf("%s above its limit %d in %d of %d readings (%d‰ within)", m.Measure, m.Limit, m.Readings-m.Within, m.Readings, m.Permille))
		}
	}

	// Volume against allowance after trades.
	allowML := satMul(s.AllowanceAfterTrades, 1000)
	if s.UsedML <= allowML {
		savedL := (allowML - s.UsedML) / 1000
		capL := satMul(s.AllowanceAfterTrades, uint64(rr.MaxSavedPermille)) / 1000
		s.SavedCapLitres = capL
		s.SavedLitres = min(savedL, capL)
		bonus := satMul(s.SavedLitres, rr.PerLitreSaved)
		s.Gross = satAdd(rr.Base, bonus)
		note := ""
		if savedL > capL {
			note = fmt.Sprintf(", capped at %d L (%d‰ of the allowance)", capL, rr.MaxSavedPermille)
		}
		s.Reasons = append(s.Reasons, fmt.Sprintf("used %s of %d L allowance after trades: %d L saved%s, earning %d L × %s = %s on top of the base %s",
			formatML(s.UsedML), s.AllowanceAfterTrades, savedL, note, s.SavedLitres, FormatDrops(rr.PerLitreSaved), FormatDrops(bonus), FormatDrops(rr.Base)))
	} else {
		overML := s.UsedML - allowML
		s.OverLitres = overML / 1000
		if overML%1000 != 0 {
			s.OverLitres++
		}
		s.Overused = true
		penalty := satMul(s.OverLitres, rr.PenaltyPerLitreOver)
		if penalty < rr.Base {
			s.Gross = rr.Base - penalty
		}
		s.Reasons = append(s.Reasons, fmt.Sprintf("overused: used %s of %d L allowance after trades, %d L over; penalty %d L × %s = %s off the base %s",
			formatML(s.UsedML), s.AllowanceAfterTrades, s.OverLitres, s.OverLitres, FormatDrops(rr.PenaltyPerLitreOver), FormatDrops(penalty), FormatDrops(rr.Base)))
	}

	switch {
	case s.DeliveryPermille < rr.MinDeliveryPermille:
		s.Reward = 0
		s.Reasons = append(s.Reasons, fmt.Sprintf("nothing minted: delivery %d‰ is below the minimum %d‰", s.DeliveryPermille, rr.MinDeliveryPermille))
	case s.CompliancePermille < rr.MinCompliancePermille:
		s.Reward = 0
		what := "compliance"
		if worst != "" {
			what = worst + " within its limit"
		}
		s.Reasons = append(s.Reasons, fmt.Sprintf("nothing minted: %s in %d‰ of readings is below the minimum %d‰", what, s.CompliancePermille, rr.MinCompliancePermille))
	default:
		s.Reward = scalePermille2(s.Gross, s.CompliancePermille, s.DeliveryPermille)
		s.Reasons = append(s.Reasons, fmt.Sprintf("minted %s = gross %s × compliance %d‰ × delivery %d‰", FormatDrops(s.Reward), FormatDrops(s.Gross), s.CompliancePermille, s.DeliveryPermille))
	}
}
