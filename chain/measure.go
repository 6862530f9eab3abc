package chain

// Measure describes one quantity a meter reports: its name in JSON and in
// permits, the unit of the integer stored on chain and the scale from the
// SI-style unit people read (value on chain = human value × Scale).
type Measure struct {
	Name  string // JSON field of Reading and key of Limits
	Unit  string // unit of the human value
	Scale int64  // on-chain integer = human value × Scale
	Doc   string
}

// Measures lists the measured quantities of a reading, in a fixed order.
// Discharge limits exist for the quality measures (conductivity and after).
var Measures = []Measure{
	{"flow_rate", "L/h", 1000, "volumetric flow rate, millilitres per hour"},
	{"volume", "L", 1000, "volume discharged in the reading interval, millilitres"},
	{"volume_total", "L", 1000, "meter totalizer (cumulative volume), millilitres"},
	{"conductivity", "uS/cm", 10, "electrical conductivity, tenths of µS/cm"},
	{"suspended_solids", "mg/L", 10, "total suspended solids, tenths of mg/L"},
	{"absorbance", "AU", 1000, "UV absorbance at 254 nm (spectral measure), milli-absorbance units"},
	{"turbidity", "NTU", 100, "turbidity (optical measure), hundredths of NTU"},
}

// QualityMeasures are the measures a permit may limit.
var QualityMeasures = []string{"conductivity", "suspended_solids", "absorbance", "turbidity"}

// MeasureValue returns the on-chain integer of the named measure of r.
func (r *Reading) MeasureValue(name string) (int64, bool) {
	switch name {
	case "flow_rate":
		return r.FlowRate, true
	case "volume":
		return r.Volume, true
	case "volume_total":
		return r.VolumeTotal, true
	case "conductivity":
		return r.Conductivity, true
	case "suspended_solids":
		return r.SuspendedSolids, true
	case "absorbance":
		return r.Absorbance, true
	case "turbidity":
		return r.Turbidity, true
	}
	return 0, false
}

// Limits are the discharge limits of a permit: the highest allowed value of
// each quality measure, on the chain's scale (see Measures). Zero means the
// measure is not limited.
type Limits struct {
	Conductivity    int64 `cbor:"1,keyasint,omitempty" json:"conductivity,omitempty"`
	SuspendedSolids int64 `cbor:"2,keyasint,omitempty" json:"suspended_solids,omitempty"`
	Absorbance      int64 `cbor:"3,keyasint,omitempty" json:"absorbance,omitempty"`
	Turbidity       int64 `cbor:"4,keyasint,omitempty" json:"turbidity,omitempty"`
}

// Limit returns the limit of the named quality measure (0: none).
func (l Limits) Limit(name string) int64 {
	switch name {
	case "conductivity":
		return l.Conductivity
	case "suspended_solids":
		return l.SuspendedSolids
	case "absorbance":
		return l.Absorbance
	case "turbidity":
		return l.Turbidity
	}
	return 0
}

// Validate rejects negative limits.
func (l Limits) Validate() error {
	for _, m := range QualityMeasures {
		if l.Limit(m) < 0 {
			return fieldErr("limits."+m, "must not be negative, got %d", l.Limit(m))
		}
	}
	return nil
}
